from django.db import migrations

# A CHECK cannot see other rows: a trigger walks the new parent's ancestors and refuses a
# parent that is the category itself or one of its descendants.
NO_CYCLES = """
CREATE FUNCTION listings_category_no_cycles() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS NOT NULL AND EXISTS (
        WITH RECURSIVE ancestors(id, parent_id) AS (
            SELECT id, parent_id FROM listings_category WHERE id = NEW.parent_id
            UNION
            SELECT c.id, c.parent_id FROM listings_category c JOIN ancestors a ON c.id = a.parent_id
        )
        SELECT 1 FROM ancestors WHERE id = NEW.id
    ) THEN
        RAISE EXCEPTION 'category % cannot be placed under its own descendant %', NEW.id, NEW.parent_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER listings_category_no_cycles
    BEFORE INSERT OR UPDATE OF parent_id ON listings_category
    FOR EACH ROW EXECUTE FUNCTION listings_category_no_cycles();
"""
NO_CYCLES_REVERSE = """
DROP TRIGGER IF EXISTS listings_category_no_cycles ON listings_category;
DROP FUNCTION IF EXISTS listings_category_no_cycles();
"""


class Migration(migrations.Migration):
    dependencies = [("listings", "0002_triggers")]

    operations = [migrations.RunSQL(NO_CYCLES, reverse_sql=NO_CYCLES_REVERSE)]
