"""Alerts' subscribers to the listings' hooks (connected in ``AlertsConfig.ready()``)."""

from alerts.tasks import price_drop_job
from listings import hooks as listings_hooks


@listings_hooks.listing_price_dropped.subscribe
def queue_price_drop(listing_id, old_cents, new_cents, dropped_at) -> None:
    """A price drop is told by a job (many favoriters; retried if it fails)."""
    price_drop_job.defer(
        listing_id=str(listing_id), old_cents=old_cents, new_cents=new_cents, dropped_at=dropped_at
    )
