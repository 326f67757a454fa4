from django.db import migrations

# Number attribute filters (listings.search.filters) read this table instead of parsing every
# candidate's JSON: one row per number attribute of a listing, kept by a trigger on
# listings_listing. Its (key, value) index finds the few listings in a range, and nothing at
# once when the range holds none (a JSON filter reads every listing of the category first).
# No foreign key: the table follows the listings through the trigger, and Django's test flush
# (TRUNCATE of the model tables) must not trip over it.
FORWARD = """
CREATE TABLE listings_listing_number (
    listing_id uuid NOT NULL,
    key text NOT NULL,
    value numeric NOT NULL,
    PRIMARY KEY (listing_id, key)
);
CREATE INDEX listings_listing_number_range ON listings_listing_number (key, value, listing_id);

CREATE FUNCTION listings_listing_numbers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM listings_listing_number WHERE listing_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO listings_listing_number (listing_id, key, value)
        SELECT NEW.id, entry.key, (entry.value #>> '{}')::numeric
        FROM jsonb_each(CASE WHEN jsonb_typeof(NEW.attributes) = 'object' THEN NEW.attributes ELSE '{}' END) AS entry
        WHERE jsonb_typeof(entry.value) = 'number';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER listings_listing_numbers_write AFTER INSERT OR DELETE ON listings_listing
    FOR EACH ROW EXECUTE FUNCTION listings_listing_numbers();
CREATE TRIGGER listings_listing_numbers_update AFTER UPDATE OF attributes ON listings_listing
    FOR EACH ROW WHEN (OLD.attributes IS DISTINCT FROM NEW.attributes)
    EXECUTE FUNCTION listings_listing_numbers();

INSERT INTO listings_listing_number (listing_id, key, value)
SELECT listing.id, entry.key, (entry.value #>> '{}')::numeric
FROM listings_listing AS listing
CROSS JOIN LATERAL jsonb_each(listing.attributes) AS entry
WHERE jsonb_typeof(listing.attributes) = 'object' AND jsonb_typeof(entry.value) = 'number';
ANALYZE listings_listing_number;
"""
REVERSE = """
DROP TRIGGER IF EXISTS listings_listing_numbers_write ON listings_listing;
DROP TRIGGER IF EXISTS listings_listing_numbers_update ON listings_listing;
DROP FUNCTION IF EXISTS listings_listing_numbers();
DROP TABLE IF EXISTS listings_listing_number;
"""


class Migration(migrations.Migration):
    dependencies = [("listings", "0011_search_title_index")]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=REVERSE)]
