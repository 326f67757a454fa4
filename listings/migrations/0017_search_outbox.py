from django.db import migrations

# The search engine's outbox (listings.search.sync): one row per listing change the engine's
# index must follow, written by a trigger in the same transaction as the change, so a rollback
# writes none and a commit never loses one, whatever wrote the row (services, the admin, a
# queryset update, the ban trigger of migration 0015, raw SQL). The apply job reads it oldest
# first and deletes what it applied.
# - INSERT and DELETE: always.
# - UPDATE: only when a column the index or the searchable rule (public_listings) reads
#   changed. The view counters (view_count, favorite_count, inquiry_count), updated_at and
#   the trigger-kept search_vector are left out: "UPDATE OF" does not even call the trigger
#   for a counter flush, and "WHEN" skips a full save() that changed none of them.
# The outbox is written whether or not an engine is configured: the trigger never depends on
# the application's settings, so no change can slip between turning the engine on and the
# reindex's snapshot. With the engine off, the periodic prune keeps it bounded.
# No foreign key (like listings_listing_number): a deleted listing's row must outlive it, and
# Django's test flush (TRUNCATE of the model tables) must not trip over it.
COLUMNS = (
    "id, title, description, attributes, category_id, currency, price_cents, pricing_type, "
    "published_at, location_lat, location_lng, status, visibility, seller_banned"
)
# seller_id is not indexed, but moving a listing to a banned seller changes seller_banned
# through a BEFORE trigger (migration 0015), and "UPDATE OF" looks only at the columns the
# statement sets: list it too, and let WHEN compare the outcome.
TARGETS = f"{COLUMNS}, seller_id"
OLD = ", ".join(f"OLD.{column.strip()}" for column in COLUMNS.split(","))
NEW = ", ".join(f"NEW.{column.strip()}" for column in COLUMNS.split(","))

FORWARD = f"""
CREATE TABLE listings_search_outbox (
    id bigserial PRIMARY KEY,
    listing_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION listings_search_outbox_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO listings_search_outbox (listing_id) VALUES (OLD.id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id) THEN
        INSERT INTO listings_search_outbox (listing_id) VALUES (NEW.id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER listings_search_outbox_write AFTER INSERT OR DELETE ON listings_listing
    FOR EACH ROW EXECUTE FUNCTION listings_search_outbox_write();
CREATE TRIGGER listings_search_outbox_update AFTER UPDATE OF {TARGETS} ON listings_listing
    FOR EACH ROW WHEN (({OLD}) IS DISTINCT FROM ({NEW}))
    EXECUTE FUNCTION listings_search_outbox_write();
"""

REVERSE = """
DROP TRIGGER IF EXISTS listings_search_outbox_write ON listings_listing;
DROP TRIGGER IF EXISTS listings_search_outbox_update ON listings_listing;
DROP FUNCTION IF EXISTS listings_search_outbox_write();
DROP TABLE IF EXISTS listings_search_outbox;
"""


class Migration(migrations.Migration):
    dependencies = [("listings", "0016_search_words_by_category")]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=REVERSE)]
