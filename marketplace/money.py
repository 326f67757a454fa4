"""Money as integer minor units: parsing user input and formatting, with no float anywhere."""

import re
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core import checks

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
# Largest amount a person may type: keeps every derived sum far inside BIGINT.
MAX_MAJOR_UNITS = Decimal("1000000000")


def minor_unit_exponent(currency: str) -> int:
    try:
        return settings.CURRENCIES[currency]
    except KeyError:
        raise ValueError(f"{currency} is not an accepted currency.") from None


THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d*)?")
# What an amount may look like once its separators are read: digits, at most one point.
PLAIN_AMOUNT = re.compile(r"-?(\d+\.?\d*|\.\d+)")
SEPARATOR_MESSAGE = "Use a point for decimals, such as 12.50, and commas only between thousands (1,250.00)."


def _without_separators(text: str, exponent: int) -> str:
    """The amount with its separators read: commas between groups of three digits are
    thousands separators (``1,250.00``); one comma followed by at most the currency's number
    of decimals is a decimal comma (``12,50``, as written in much of Europe). Anything else
    with a comma (``1.250,00``, ``1,2,3``) is refused rather than guessed: a wrong guess
    multiplies a price or a refund by a hundred."""
    if "," not in text:
        return text
    if THOUSANDS.fullmatch(text):
        return text.replace(",", "")
    whole, _, decimals = text.partition(",")
    if "." not in text and whole.isdigit() and decimals.isdigit() and len(decimals) <= exponent:
        return f"{whole}.{decimals}"
    raise ValueError(SEPARATOR_MESSAGE)


def parse_amount(text: str, currency: str) -> int:
    """``"45.99"`` in USD -> ``4599`` (also ``"1,250.00"`` and ``"12,50"``; see
    ``_without_separators``). Raises ``ValueError`` with a message for people."""
    exponent = minor_unit_exponent(currency)
    cleaned = _without_separators((text or "").strip(), exponent)
    # Decimal() also reads "1e3", "NaN" and "Infinity": an amount is written in digits.
    if not PLAIN_AMOUNT.fullmatch(cleaned):
        raise ValueError("Enter an amount such as 45.99.")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Enter an amount such as 45.99.") from None
    if not amount.is_finite():
        raise ValueError("Enter an amount such as 45.99.")
    if amount < 0:
        raise ValueError("The amount cannot be negative.")
    if amount > MAX_MAJOR_UNITS:
        raise ValueError("The amount is too large.")
    minor = amount.scaleb(exponent)
    if minor != minor.to_integral_value():
        places = f"{exponent} decimal place{'s' if exponent != 1 else ''}" if exponent else "no decimals"
        raise ValueError(f"{currency} amounts have {places}.")
    return int(minor)


def format_amount(cents: int | None, currency: str) -> str:
    """``4599, "USD"`` -> ``"$45.99"``; ``None`` -> ``"Contact for price"``."""
    if cents is None:
        return "Contact for price"
    exponent = settings.CURRENCIES.get(currency, 2)
    major = Decimal(cents).scaleb(-exponent)
    text = f"{major:,.{exponent}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def amount_text(cents: int | None, currency: str) -> str:
    """``4599, "USD"`` -> ``"45.99"``: an amount as typed into a form (``parse_amount`` reads it)."""
    if cents is None:
        return ""
    exponent = settings.CURRENCIES.get(currency, 2)
    return f"{Decimal(cents).scaleb(-exponent):.{exponent}f}"


def minimum_charge_cents(currency: str) -> int:
    """The smallest amount the payment provider charges in ``currency``, in minor units
    (``MINIMUM_CHARGE``, major units, rounded up to a whole minor unit)."""
    exponent = minor_unit_exponent(currency)
    try:
        minimum = Decimal(str(settings.MINIMUM_CHARGE[currency]))
    except (KeyError, InvalidOperation):
        raise ValueError(f"{currency} has no minimum charge in MINIMUM_CHARGE.") from None
    return int(minimum.scaleb(exponent).to_integral_value(rounding="ROUND_CEILING"))


def below_minimum_charge(cents: int | None, currency: str) -> bool:
    """Whether a fixed price of ``cents`` is too small to be charged (None is no price)."""
    return cents is not None and currency in settings.CURRENCIES and cents < minimum_charge_cents(currency)


def minimum_charge_message(currency: str) -> str:
    minimum = format_amount(minimum_charge_cents(currency), currency)
    return (
        f"The price must be at least {minimum}: payments in {currency} below that cannot be "
        "charged. Raise the price, or choose negotiable pricing."
    )


@checks.register()
def check_minimum_charges(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Every accepted currency has a valid minimum charge (the editor and checkout need it)."""
    errors = []
    for currency in settings.CURRENCIES:
        try:
            minimum = minimum_charge_cents(currency)
        except ValueError:
            minimum = -1
        if minimum <= 0:
            errors.append(
                checks.Error(
                    f"MINIMUM_CHARGE has no positive amount for {currency}.",
                    hint="Add it in major units, e.g. MINIMUM_CHARGE=USD=0.50 (see the payment "
                    "provider's minimum charge amounts).",
                    id="money.E001",
                )
            )
    return errors
