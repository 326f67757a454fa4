"""Money as integer minor units: parsing user input and formatting, with no float anywhere."""

from decimal import Decimal, InvalidOperation

from django.conf import settings

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
# Largest amount a person may type: keeps every derived sum far inside BIGINT.
MAX_MAJOR_UNITS = Decimal("1000000000")


def minor_unit_exponent(currency: str) -> int:
    try:
        return settings.CURRENCIES[currency]
    except KeyError:
        raise ValueError(f"{currency} is not an accepted currency.") from None


def parse_amount(text: str, currency: str) -> int:
    """``"45.99"`` in USD -> ``4599``. Raises ``ValueError`` with a message for people."""
    exponent = minor_unit_exponent(currency)
    cleaned = (text or "").strip().replace(",", "")
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
