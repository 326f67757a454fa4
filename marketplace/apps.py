import weakref

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def refuse_old_postgresql(sender, connection, **kwargs) -> None:
    """Django silently drops NULLS NOT DISTINCT before PostgreSQL 15; refuse to run there."""
    if connection.vendor == "postgresql" and connection.pg_version < 150000:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"PostgreSQL 15 or newer is required (this server is {connection.pg_version})."
        )


# The database connections that already have their DB_PARALLEL_WORKERS (and which value).
_parallel_workers_set: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def limit_parallel_workers(sender, connection, **kwargs) -> None:
    """``DB_PARALLEL_WORKERS`` for the session: the site's queries are short and many run side
    by side, and parallel workers made them slower on the 2-core host (a search's counts and
    candidate windows; bench/README.md). Sent on the raw connection, not as a query of any page
    (query-count tests stay as they are), and once per database connection: with a pool,
    Django "connects" at every checkout (every request, every messaging socket call), and a
    SET each time was one more round trip for each of them."""
    from django.conf import settings

    workers = getattr(settings, "DB_PARALLEL_WORKERS", None)
    raw = connection.connection
    if connection.vendor != "postgresql" or workers is None or raw is None:
        return
    if _parallel_workers_set.get(raw) != int(workers):
        raw.execute(f"SET max_parallel_workers_per_gather = {int(workers)}")
        _parallel_workers_set[raw] = int(workers)


class MarketplaceConfig(AppConfig):
    name = "marketplace"

    def ready(self) -> None:
        connection_created.connect(refuse_old_postgresql, dispatch_uid="refuse_old_postgresql")
        connection_created.connect(limit_parallel_workers, dispatch_uid="limit_parallel_workers")
        # Registers the system checks: minimum charges (money), production mode (checks).
        from marketplace import checks, money  # noqa: F401
