"""An index leading with procrastinate_jobs.worker_id: pruning a stalled worker (ON DELETE SET
NULL on its jobs) would otherwise scan the whole jobs table (tests/marketplace/test_schema.py)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0005_queued_job_proxy"),
        ("procrastinate", "0041_post_retry_failed_job"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS marketplace_procrastinate_jobs_worker_id"
            " ON procrastinate_jobs (worker_id)",
            reverse_sql="DROP INDEX IF EXISTS marketplace_procrastinate_jobs_worker_id",
        ),
    ]
