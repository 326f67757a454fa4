"""DB_PARALLEL_WORKERS: every connection the site opens gets it (marketplace.apps)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def parallel_workers() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        return cursor.fetchone()[0]


def test_connections_run_without_parallel_workers_by_default(settings):
    assert settings.DB_PARALLEL_WORKERS == 0
    assert parallel_workers() == "0"


def test_the_setting_applies_to_new_connections(settings):
    settings.DB_PARALLEL_WORKERS = 1
    from marketplace.apps import limit_parallel_workers

    limit_parallel_workers(sender=None, connection=connection)
    assert parallel_workers() == "1"
    settings.DB_PARALLEL_WORKERS = 0
    limit_parallel_workers(sender=None, connection=connection)
    assert parallel_workers() == "0"


def test_it_is_sent_once_per_database_connection(settings):
    """With a pool, Django "connects" at every checkout of the same database connection: the
    SET goes once, not one more round trip per request."""
    from marketplace.apps import limit_parallel_workers

    sent = []

    class Raw:  # stands in for psycopg's connection: records what it is sent
        def execute(self, sql):
            sent.append(sql)

    class Wrapper:  # stands in for Django's connection wrapper, checked out again and again
        vendor = "postgresql"
        connection = Raw()

    for _ in range(3):
        limit_parallel_workers(sender=None, connection=Wrapper)
    assert sent == ["SET max_parallel_workers_per_gather = 0"]
