import pytest

from marketplace.money import format_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "currency", "cents"),
    [
        ("45.99", "USD", 4599),
        ("0.01", "USD", 1),
        ("1,234.50", "USD", 123450),
        ("  7 ", "EUR", 700),
        ("0", "USD", 0),
        ("1000", "JPY", 1000),
        ("1000000000", "USD", 100_000_000_000),
        # Decimal arithmetic: no float drift on values that floats get wrong.
        ("0.29", "USD", 29),
        ("1.15", "USD", 115),
        ("4.35", "GBP", 435),
        # Separators: thousands groups, or one decimal comma within the currency's decimals.
        ("1,250", "USD", 125_000),
        ("1,250,000.5", "USD", 125_000_050),
        ("12,50", "EUR", 1250),
        ("12,5", "EUR", 1250),
        ("10,00", "USD", 1000),
        ("1,250", "JPY", 1250),
    ],
)
def test_parse_amount_is_exact(text, currency, cents):
    assert parse_amount(text, currency) == cents


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("", "USD", "Enter an amount"),
        ("abc", "USD", "Enter an amount"),
        ("NaN", "USD", "Enter an amount"),
        ("Infinity", "USD", "Enter an amount"),
        # Scientific notation is not how anyone writes a price ("1e3" read as 1,000.00).
        ("1e3", "USD", "Enter an amount"),
        ("1E2", "USD", "Enter an amount"),
        ("$45", "USD", "Enter an amount"),
        ("4 5", "USD", "Enter an amount"),
        ("0x10", "USD", "Enter an amount"),
        ("1_000", "USD", "Enter an amount"),
        ("-1", "USD", "negative"),
        ("1.001", "USD", "2 decimal places"),
        ("1.5", "JPY", "no decimals"),
        ("1000000000.01", "USD", "too large"),
        ("5", "ZZZ", "not an accepted currency"),
        # A comma that is neither a thousands separator nor a decimal comma is refused, never
        # guessed (deleting it read "12,50" EUR as 1,250.00 and a refund of "10,00" as 1,000).
        ("1.250,00", "EUR", "Use a point for decimals"),
        ("12,5050", "EUR", "Use a point for decimals"),
        ("1,2,3", "USD", "Use a point for decimals"),
        (",50", "USD", "Use a point for decimals"),
        ("12,", "USD", "Use a point for decimals"),
        ("12,5", "JPY", "Use a point for decimals"),
        ("1,25.00", "USD", "Use a point for decimals"),
    ],
)
def test_parse_amount_refuses_bad_input_with_a_message(text, currency, message):
    with pytest.raises(ValueError, match=message):
        parse_amount(text, currency)


@pytest.mark.parametrize(
    ("cents", "currency", "text"),
    [
        (4599, "USD", "$45.99"),
        (1, "USD", "$0.01"),
        (123456789, "EUR", "€1,234,567.89"),
        (1000, "JPY", "¥1,000"),
        (None, "USD", "Contact for price"),
        (9_223_372_036_854_775_807, "USD", "$92,233,720,368,547,758.07"),
    ],
)
def test_format_amount(cents, currency, text):
    assert format_amount(cents, currency) == text
