"""Platform fee arithmetic: integers only, rounding stated."""

MAX_BPS = 10_000


def platform_fee_cents(subtotal_cents: int, bps: int) -> int:
    """The platform's fee on ``subtotal_cents`` at ``bps`` basis points, in minor units.

    Rounding: floor, ``subtotal_cents * bps // 10_000`` (DESIGN: floor(subtotal x bps /
    10,000)); a fraction of a cent goes to the seller. Python integers do not overflow, and
    with bps <= 10,000 the fee never exceeds the subtotal, so the payout (subtotal - fee)
    is never negative and stays inside BIGINT whenever the subtotal does.
    """
    for name, value in (("subtotal_cents", subtotal_cents), ("bps", bps)):
        # bool is an int subclass: True cents is a bug, not an amount.
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}.")
    if subtotal_cents < 0:
        raise ValueError("subtotal_cents cannot be negative.")
    if not 0 <= bps <= MAX_BPS:
        raise ValueError(f"bps must be between 0 and {MAX_BPS}.")
    return subtotal_cents * bps // MAX_BPS
