from django.db import migrations

# pg_stat_statements feeds `manage.py db_report`'s slowest statements. It needs the server's
# shared_preload_libraries (the embedded server sets it, see marketplace/embedded.py) and a
# superuser to create; where either is missing the migration passes and the report says
# "unavailable".
CREATE = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements') THEN
        CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pg_stat_statements not created: %', SQLERRM;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0003_audit_log")]

    operations = [migrations.RunSQL(CREATE, reverse_sql="DROP EXTENSION IF EXISTS pg_stat_statements;")]
