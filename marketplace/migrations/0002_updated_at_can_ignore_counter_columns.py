from django.db import migrations

# Trigger arguments name columns whose changes alone do not make a row "updated": counters
# kept by other triggers or flushed in batches (a view or a favorite is not an edit).
SET_UPDATED_AT = """
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_NARGS > 0 AND (to_jsonb(NEW) - TG_ARGV::text[]) = (to_jsonb(OLD) - TG_ARGV::text[]) THEN
        NEW.updated_at := OLD.updated_at;
        RETURN NEW;
    END IF;
    -- statement_timestamp(), like the created_at default (Django's Now()): a row created and
    -- updated in one transaction never has updated_at < created_at.
    NEW.updated_at := statement_timestamp();
    RETURN NEW;
END;
$$;
"""
PREVIOUS = """
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := statement_timestamp();
    RETURN NEW;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_extensions_and_shared_functions")]

    operations = [migrations.RunSQL(SET_UPDATED_AT, reverse_sql=PREVIOUS)]
