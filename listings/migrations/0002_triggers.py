from django.db import migrations

from marketplace.migration_sql import updated_at_trigger

# Title outranks description; text and enum attribute values (brand, material...) rank last.
SEARCH_VECTOR = """
CREATE FUNCTION listings_listing_search_vector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('pg_catalog.english', coalesce(NEW.title, '')), 'A')
        || setweight(to_tsvector('pg_catalog.english', coalesce(NEW.description, '')), 'B')
        || setweight(jsonb_to_tsvector('pg_catalog.english', coalesce(NEW.attributes, '{}'), '["string"]'), 'C');
    RETURN NEW;
END;
$$;
CREATE TRIGGER listings_listing_search_vector
    BEFORE INSERT OR UPDATE OF title, description, attributes ON listings_listing
    FOR EACH ROW EXECUTE FUNCTION listings_listing_search_vector();
"""
SEARCH_VECTOR_REVERSE = """
DROP TRIGGER IF EXISTS listings_listing_search_vector ON listings_listing;
DROP FUNCTION IF EXISTS listings_listing_search_vector();
"""

# A single-row UPDATE ... SET n = n + 1 is atomic under concurrency: no lost increments.
# A favorite moved to another listing (an UPDATE of listing_id) counts on the new one only.
FAVORITE_COUNT = """
CREATE FUNCTION listings_favorite_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE listings_listing SET favorite_count = favorite_count - 1 WHERE id = OLD.listing_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE listings_listing SET favorite_count = favorite_count + 1 WHERE id = NEW.listing_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER listings_favorite_count
    AFTER INSERT OR DELETE ON listings_favorite
    FOR EACH ROW EXECUTE FUNCTION listings_favorite_count();
CREATE TRIGGER listings_favorite_count_update
    AFTER UPDATE OF listing_id ON listings_favorite
    FOR EACH ROW WHEN (OLD.listing_id IS DISTINCT FROM NEW.listing_id)
    EXECUTE FUNCTION listings_favorite_count();
"""
FAVORITE_COUNT_REVERSE = """
DROP TRIGGER IF EXISTS listings_favorite_count ON listings_favorite;
DROP TRIGGER IF EXISTS listings_favorite_count_update ON listings_favorite;
DROP FUNCTION IF EXISTS listings_favorite_count();
"""


class Migration(migrations.Migration):
    dependencies = [("listings", "0001_initial")]

    operations = [
        updated_at_trigger("listings_listing"),
        migrations.RunSQL(SEARCH_VECTOR, reverse_sql=SEARCH_VECTOR_REVERSE),
        migrations.RunSQL(FAVORITE_COUNT, reverse_sql=FAVORITE_COUNT_REVERSE),
    ]
