"""Alerts' jobs: matching new listings against saved searches, the daily digest, price drops."""

from procrastinate.contrib.django import app

from alerts.services import (
    match_new_listings,
    price_drop_notify,
    send_daily_digests,
    tell_followers,
    tell_matches,
)


@app.periodic(cron="*/2 * * * *")
@app.task(name="alerts.match_new_listings", queueing_lock="alerts.match_new_listings")
def match_new_listings_job(timestamp: int) -> int:
    """Every two minutes: new listings against saved searches (instant alerts within a few
    minutes of publication) and followed sellers. Safe to run twice at once (an advisory lock)."""
    return match_new_listings().matches


@app.periodic(cron="0 7 * * *")
@app.task(name="alerts.daily_digest", queueing_lock="alerts.daily_digest")
def daily_digest_job(timestamp: int) -> int:
    """Every day at 07:00 (TIME_ZONE): one email per member with their daily alerts' matches."""
    return send_daily_digests()


@app.task(name="alerts.price_drop", retry=5)
def price_drop_job(*, listing_id: str, old_cents: int, new_cents: int, dropped_at: str) -> int:
    """Tell the members who favorited a listing that its price dropped (in batches)."""
    return price_drop_notify(
        listing_id=listing_id, old_cents=old_cents, new_cents=new_cents, dropped_at=dropped_at
    )


@app.task(name="alerts.tell_matches", retry=5)
def tell_matches_job(*, saved_search_ids: list[str]) -> int:
    """Notify a batch of instant alerts of their new matches (queued by the matching run)."""
    return tell_matches(saved_search_ids=saved_search_ids)


@app.task(name="alerts.tell_followers", retry=5)
def tell_followers_job(*, pairs: list[list[str]]) -> int:
    """Notify followers (alerts on) of their sellers' new listings, a batch of pairs."""
    return tell_followers(pairs=pairs)
