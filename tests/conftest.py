import pytest
from django.core.cache import cache
from django.db import connection, transaction


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache: this run's keys only (cache.clear() would flush
    the whole Redis database, including other runs' keys), and the process reads the
    category tree's version again (it keeps it CATEGORY_TREE_CHECK_SECONDS)."""
    from listings.categories import forget_category_tree

    cache.delete_pattern("*")
    forget_category_tree()
    yield


@pytest.fixture(autouse=True, scope="session")
def _drop_this_runs_cache_keys():
    yield
    cache.delete_pattern("*")
    # The channel layer's keys of this run (the Redis watcher's epoch), under the run's prefix.
    from django.conf import settings
    from django_redis import get_redis_connection

    redis = get_redis_connection("default")
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    for key in redis.scan_iter(match=f"{prefix}:*"):
        redis.delete(key)


@pytest.fixture
def ledger_db(transactional_db):
    """A transactional test that writes money-ledger rows. Django's flush truncates every
    table, and the ledger refuses TRUNCATE while it holds rows: empty it deliberately first."""
    yield
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE payments_ledgerentry DISABLE TRIGGER payments_ledgerentry_no_truncate")
        cursor.execute("TRUNCATE payments_ledgerentry")
        cursor.execute("ALTER TABLE payments_ledgerentry ENABLE TRIGGER payments_ledgerentry_no_truncate")


PROCRASTINATE_TABLES = (
    "procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, procrastinate_workers"
)


@pytest.fixture(autouse=True)
def _no_job_left_by_another_test(request):
    """A test's ``run_jobs()`` runs only what the test queued: jobs committed outside any test
    transaction (a module fixture, a server process finishing late) are deleted first (inside
    the test's transaction when it has one)."""
    if request.node.get_closest_marker("django_db") is None:
        requested = {"db", "transactional_db"} & set(request.fixturenames)
        if not requested:
            yield
            return
        # Set up now (it would come after this autouse fixture): the one the test asked for.
        request.getfixturevalue("transactional_db" if "transactional_db" in requested else "db")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")
    yield


@pytest.fixture(autouse=True)
def _empty_job_queue_after_transactional_tests(request, django_db_blocker):
    """Procrastinate's tables are unmanaged, so Django's flush after a transactional test
    leaves the jobs it committed: empty them, or a later test's ``run_jobs()`` would run them."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if not (
        {"transactional_db", "live_server"} & set(request.fixturenames)
        or (marker is not None and marker.kwargs.get("transaction"))
    ):
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {PROCRASTINATE_TABLES} RESTART IDENTITY CASCADE")
