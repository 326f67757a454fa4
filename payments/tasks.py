"""Payments' periodic jobs: escrow release and checkout expiry (the ``release_escrow`` and
``expire_checkouts`` commands run the same sweeps by hand).

Thin: each calls one sweep of ``payments.services.sweeps``, safe to run twice at once (each
row SKIP LOCKED and re-checked under its lock); the queueing lock keeps at most one waiting.
A sweep with failed rows raises after handling every other row, so the run shows as a
failed job in the admin; the next run retries those rows.
"""

import logging

from procrastinate.contrib.django import app

from payments.services.sweeps import checkouts_expire_all_due, escrow_release_all_due

logger = logging.getLogger(__name__)


class SweepFailed(Exception):
    """Some rows of a sweep failed (the message lists them); the others were handled."""


@app.periodic(cron="*/10 * * * *")
@app.task(name="payments.release_escrow", queueing_lock="payments.release_escrow")
def release_escrow(timestamp: int) -> dict[str, int]:
    """Every 10 minutes: pay the sellers whose escrow is due."""
    report = escrow_release_all_due()
    logger.info("release_escrow: %s", dict(report.outcomes))
    if report.failed:
        raise SweepFailed(f"{report.failed} releases failed: " + "; ".join(report.errors))
    return dict(report.outcomes)


@app.periodic(cron="* * * * *")
@app.task(name="payments.expire_checkouts", queueing_lock="payments.expire_checkouts")
def expire_checkouts(timestamp: int) -> dict[str, int]:
    """Every minute: cancel unpaid checkouts older than ``CHECKOUT_EXPIRY_MINUTES``."""
    report = checkouts_expire_all_due()
    if report.outcomes["expired"]:
        logger.info("expire_checkouts: %s", dict(report.outcomes))
    if report.failed:
        raise SweepFailed(f"{report.failed} checkouts could not be expired: " + "; ".join(report.errors))
    return dict(report.outcomes)
