"""Analytics jobs: the periodic flush of buffered events into the events table, and the
events table's monthly partitions."""

import logging

from django.conf import settings
from procrastinate.contrib.django import app

from analytics.partitions import maintain_partitions
from analytics.tracking import flush_events

logger = logging.getLogger(__name__)


@app.periodic(cron="* * * * *")
@app.task(name="analytics.flush_events", queueing_lock="analytics.flush_events", retry=3)
def flush_analytics_events(timestamp: int) -> None:
    """Every minute: write the Redis buffer into ``analytics_event`` (idempotent and safe to
    run twice at once, see ``analytics.tracking.flush_events``); a failure retries."""
    result = flush_events()
    if result.read:
        logger.info(
            "analytics: flushed %s events (%s new, %s batches)", result.read, result.inserted, result.batches
        )


@app.periodic(cron="17 3 * * *")
@app.task(name="analytics.partitions", queueing_lock="analytics.partitions")
def maintain_event_partitions(timestamp: int) -> None:
    """Daily at 03:17: create the coming months' event partitions, retire those past
    retention (the ``partitions`` command by hand; an advisory lock serialises two runs)."""
    report = maintain_partitions(
        months_ahead=settings.EVENTS_PARTITIONS_AHEAD,
        retention_months=settings.EVENTS_RETENTION_MONTHS,
        action=settings.EVENTS_RETENTION_ACTION,
    )
    if report.created or report.retired:
        logger.info("partitions: created %s, retired %s", report.created, report.retired)
