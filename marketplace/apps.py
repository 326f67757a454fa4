from django.apps import AppConfig
from django.db.backends.signals import connection_created


def refuse_old_postgresql(sender, connection, **kwargs) -> None:
    """Django silently drops NULLS NOT DISTINCT before PostgreSQL 15; refuse to run there."""
    if connection.vendor == "postgresql" and connection.pg_version < 150000:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"PostgreSQL 15 or newer is required (this server is {connection.pg_version})."
        )


class MarketplaceConfig(AppConfig):
    name = "marketplace"

    def ready(self) -> None:
        connection_created.connect(refuse_old_postgresql, dispatch_uid="refuse_old_postgresql")
        # Registers the system checks: minimum charges (money), production mode (checks).
        from marketplace import checks, money  # noqa: F401
