# Admin search (icontains: UPPER(col::text) LIKE UPPER('%term%')) on email and names uses these
# trigram indexes instead of scanning the table. The expression matches what Django compiles.
# CONCURRENTLY: the users table is big in production, so the build must not block writes.
from django.db import migrations

INDEXES = {
    "accounts_user_email_trgm": "email",
    "accounts_user_first_name_trgm": "first_name",
    "accounts_user_last_name_trgm": "last_name",
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0007_user_deleted_at"),
        ("marketplace", "0001_extensions_and_shared_functions"),  # pg_trgm
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON accounts_user "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops);",
            reverse_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {name};",
        )
        for name, column in INDEXES.items()
    ]
