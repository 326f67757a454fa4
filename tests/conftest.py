import pytest
from django.core.cache import cache


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
