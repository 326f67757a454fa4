"""Privacy jobs: building a "Download my data" zip, and deleting expired ones (thin: the work
is in ``privacy.services``, which defers the build by its task name)."""

from procrastinate.contrib.django import app

from privacy import services

# Retries after the first run: the last run (attempts == EXPORT_RETRIES) marks a failure.
EXPORT_RETRIES = 3


@app.task(name=services.BUILD_EXPORT_TASK, retry=EXPORT_RETRIES, pass_context=True)
def build_data_export(context, *, export_id: str) -> None:
    """Build one export (``services.data_export_build``: idempotent, safe to run twice); after
    the last failed attempt the export is marked failed so the member may ask again."""
    try:
        services.data_export_build(export_id=export_id)
    except Exception:
        if context.job.attempts >= EXPORT_RETRIES:
            services.data_export_fail(export_id=export_id)
        raise


@app.periodic(cron="*/15 * * * *")
@app.task(name="privacy.expire_data_exports", queueing_lock="privacy.expire_data_exports", retry=3)
def expire_data_exports(timestamp: int) -> None:
    """Every 15 minutes: delete export files past ``DATA_EXPORT_TTL_HOURS``."""
    services.data_exports_expire()
