"""SQL building blocks shared by raw-SQL migrations. Keep them stable: migrations import them."""

from django.db import migrations


def updated_at_trigger(table: str) -> migrations.RunSQL:
    """``updated_at`` set by the database on every UPDATE of ``table``."""
    return migrations.RunSQL(
        f"CREATE TRIGGER {table}_updated_at BEFORE UPDATE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION set_updated_at();",
        reverse_sql=f"DROP TRIGGER IF EXISTS {table}_updated_at ON {table};",
    )
