"""Offers' jobs: expiring the offers nobody answered in time."""

from procrastinate.contrib.django import app

from offers.services import offers_expire_due


@app.periodic(cron="*/5 * * * *")
@app.task(name="offers.expire_offers", queueing_lock="offers.expire_offers")
def expire_offers(timestamp: int) -> int:
    """Every five minutes: offers past ``expires_at`` expire (safe to run twice at once:
    ``offers_expire_due`` skips rows another run holds)."""
    return offers_expire_due()
