from django.contrib.postgres.operations import UnaccentExtension
from django.db import migrations

# Two text search configurations, both folding accents with the unaccent dictionary before
# anything else looks at a word ("Café" is stored and searched as "cafe"):
# - marketplace_search: english (stemming, stop words); the stored vector and the keyword query.
# - marketplace_words: simple (every word as it is, lower-cased); the prefix of the last typed
#   word and the spelling lexicon.
# Pure-ASCII tokens (asciiword, asciihword...) have no accent to fold and keep their mapping.
CONFIGURATIONS = """
CREATE TEXT SEARCH CONFIGURATION marketplace_search (COPY = pg_catalog.english);
ALTER TEXT SEARCH CONFIGURATION marketplace_search
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
CREATE TEXT SEARCH CONFIGURATION marketplace_words (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION marketplace_words
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
"""
CONFIGURATIONS_REVERSE = """
DROP TEXT SEARCH CONFIGURATION IF EXISTS marketplace_search;
DROP TEXT SEARCH CONFIGURATION IF EXISTS marketplace_words;
"""

# One formula for the stored vector: the trigger and the backfill below both call it.
# Title outranks description; text and enum attribute values rank last.
SEARCH_DOCUMENT = """
CREATE FUNCTION listings_search_document(title text, description text, attributes jsonb)
RETURNS tsvector LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('marketplace_search', coalesce(title, '')), 'A')
        || setweight(to_tsvector('marketplace_search', coalesce(description, '')), 'B')
        || setweight(jsonb_to_tsvector('marketplace_search', coalesce(attributes, '{}'), '["string"]'), 'C')
$$;
CREATE OR REPLACE FUNCTION listings_listing_search_vector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := listings_search_document(NEW.title, NEW.description, NEW.attributes);
    RETURN NEW;
END;
$$;
"""
SEARCH_DOCUMENT_REVERSE = """
CREATE OR REPLACE FUNCTION listings_listing_search_vector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('pg_catalog.english', coalesce(NEW.title, '')), 'A')
        || setweight(to_tsvector('pg_catalog.english', coalesce(NEW.description, '')), 'B')
        || setweight(jsonb_to_tsvector('pg_catalog.english', coalesce(NEW.attributes, '{}'), '["string"]'), 'C');
    RETURN NEW;
END;
$$;
DROP FUNCTION IF EXISTS listings_search_document(text, text, jsonb);
"""

# Existing rows: recomputed in place (search_vector is one of the columns that leave
# updated_at alone, see 0005). The reverse recomputes them with the old trigger's formula.
BACKFILL = (
    "UPDATE listings_listing SET search_vector = listings_search_document(title, description, attributes);"
)
BACKFILL_REVERSE = """
UPDATE listings_listing SET search_vector =
    setweight(to_tsvector('pg_catalog.english', coalesce(title, '')), 'A')
    || setweight(to_tsvector('pg_catalog.english', coalesce(description, '')), 'B')
    || setweight(jsonb_to_tsvector('pg_catalog.english', coalesce(attributes, '{}'), '["string"]'), 'C');
"""


class Migration(migrations.Migration):
    dependencies = [("listings", "0006_search_indexes_newest_with_id_and_price")]

    operations = [
        UnaccentExtension(),
        migrations.RunSQL(CONFIGURATIONS, reverse_sql=CONFIGURATIONS_REVERSE),
        migrations.RunSQL(SEARCH_DOCUMENT, reverse_sql=SEARCH_DOCUMENT_REVERSE),
        migrations.RunSQL(BACKFILL, reverse_sql=BACKFILL_REVERSE),
    ]
