"""The job queue (Procrastinate, in PostgreSQL): shared retry policy and health figures.

Jobs are thin tasks in ``<app>/tasks.py`` (``from procrastinate.contrib.django import app``),
deferred with ``<task>.defer(**json_kwargs)`` inside the transaction of the change that causes
them: the Django connector writes the job through Django's connection, so a rollback drops it
and a commit keeps it. The worker is ``manage.py procrastinate worker`` (started by ``make run``
and ``make serve``, see ``marketplace/worker.py``); it also defers the periodic tasks.

:func:`worker_heartbeat_age` and :func:`failed_job_count` are what the health check and staff
read: a worker that stopped beating, or jobs whose retries ran out, need someone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.jobs import Job


class ExponentialBackoff(BaseRetryStrategy):
    """Retry any exception, waiting ``base * 2**attempts`` seconds, at most ``attempts`` runs.

    Both figures are read from settings at each decision (names given, so tests and ops can
    change them without re-importing the task): with base 30 s the waits are 30 s, 1 min,
    2 min, 4 min, ... After the last run the job stays ``failed`` (visible in the admin,
    counted by :func:`failed_job_count`).
    """

    def __init__(self, *, attempts_setting: str, base_setting: str):
        self.attempts_setting = attempts_setting
        self.base_setting = base_setting

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        # ``job.attempts`` counts the runs before this one (0 on the first run).
        if job.attempts + 1 >= getattr(settings, self.attempts_setting):
            return None
        base = getattr(settings, self.base_setting)
        return RetryDecision(retry_in={"seconds": base * 2**job.attempts})


def worker_connector():
    """The connector of the worker process (``marketplace.worker``): its own psycopg pool for
    the worker's queries (fetch, finish, retry, heartbeat, periodic defers, LISTEN), but
    Django's connection for jobs deferred synchronously by a task's code (``queue_email`` in a
    job), so that they join the task's transaction as they join a request's: rolled back
    with it, committed with it. (Procrastinate's own worker connector would write them
    through its pool, committed at once whatever the task's transaction does.)"""
    from procrastinate.contrib.django import utils
    from procrastinate.contrib.django.django_connector import DjangoConnector
    from procrastinate.psycopg_connector import PsycopgConnector

    alias = getattr(settings, "PROCRASTINATE_DATABASE_ALIAS", "default")

    class WorkerConnector(PsycopgConnector):
        def get_sync_connector(self):
            return DjangoConnector(alias=alias)

    return WorkerConnector(kwargs=utils.connector_params(alias))


def worker_heartbeat_age() -> float | None:
    """Seconds since the newest heartbeat of any worker (``procrastinate_workers``), or None
    when no worker is registered (none ever started, or the last one stopped cleanly).

    A running worker beats every ``update_heartbeat_interval`` (10 s by default), so an age
    well past that means the worker is stuck or gone without unregistering.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM (clock_timestamp() - MAX(last_heartbeat))) FROM procrastinate_workers"
        )
        (age,) = cursor.fetchone()
    return None if age is None else max(float(age), 0.0)


def failed_job_count() -> int:
    """How many jobs ran out of retries (status ``failed``) and were not retried or deleted
    since. Staff see them in the admin (Procrastinate > Jobs, filter by status)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM procrastinate_jobs WHERE status = 'failed'")
        (count,) = cursor.fetchone()
    return int(count)
