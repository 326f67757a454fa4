from django.db import migrations

# The spelling lexicon: every word of the searchable listings (lower-case, accents folded,
# unstemmed), its English stem, and in how many listings it occurs. A derived table, rebuilt
# by listings.search.lexicon.lexicon_refresh and read with SQL only (no model: nothing edits
# it row by row, and there is nothing in it to moderate).
#
# Rebuilt on a schedule rather than kept by a trigger: a trigger per listing write would make
# every listing insert update the rows of its common words ("the", "with"...), a hot spot
# under concurrent writes and in bulk loads.
LEXICON = """
CREATE TABLE listings_search_word (
    word text PRIMARY KEY,
    stem text,
    ndoc integer NOT NULL CHECK (ndoc > 0)
);
-- similarity() / % and LIKE 'prefix%' lookups
CREATE INDEX listings_search_word_trgm ON listings_search_word USING gin (word gin_trgm_ops);
CREATE INDEX listings_search_word_stem ON listings_search_word (stem);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("listings", "0007_search_ignores_accents"),
        ("marketplace", "0001_extensions_and_shared_functions"),  # pg_trgm
    ]

    operations = [
        migrations.RunSQL(LEXICON, reverse_sql="DROP TABLE IF EXISTS listings_search_word;"),
    ]
