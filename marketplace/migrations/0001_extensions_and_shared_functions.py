from django.contrib.postgres.operations import CreateExtension
from django.db import migrations

SET_UPDATED_AT = """
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- statement_timestamp(), like the created_at default (Django's Now()): a row created and
    -- updated in one transaction never has updated_at < created_at.
    NEW.updated_at := statement_timestamp();
    RETURN NEW;
END;
$$;
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        # earthdistance needs cube; both are trusted extensions (no superuser needed).
        CreateExtension("cube"),
        CreateExtension("earthdistance"),
        CreateExtension("pg_trgm"),
        migrations.RunSQL(SET_UPDATED_AT, reverse_sql="DROP FUNCTION IF EXISTS set_updated_at();"),
    ]
