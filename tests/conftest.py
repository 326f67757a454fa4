import pytest
from django.core.cache import cache
from django.db import connection, transaction


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache: this run's keys only (cache.clear() would flush
    the whole Redis database, including other runs' keys)."""
    cache.delete_pattern("*")
    yield


@pytest.fixture(autouse=True, scope="session")
def _drop_this_runs_cache_keys():
    yield
    cache.delete_pattern("*")


@pytest.fixture
def ledger_db(transactional_db):
    """A transactional test that writes money-ledger rows. Django's flush truncates every
    table, and the ledger refuses TRUNCATE while it holds rows: empty it deliberately first."""
    yield
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE payments_ledgerentry DISABLE TRIGGER payments_ledgerentry_no_truncate")
        cursor.execute("TRUNCATE payments_ledgerentry")
        cursor.execute("ALTER TABLE payments_ledgerentry ENABLE TRIGGER payments_ledgerentry_no_truncate")
