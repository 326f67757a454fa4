"""Spelling help: a lexicon of the words actually indexed, and corrections from it.

The lexicon (the ``listings_search_word`` table, listings migration 0008) is rebuilt from
the searchable listings by ``lexicon_refresh`` (the ``refresh_search_lexicon`` command:
after the demo load, and on a schedule). It reads only what anyone may find (active,
public, not a banned seller's), so a suggestion never reveals a word of a draft or a
private listing. A listing published since the last refresh is still found by its words;
only the suggestions lag behind.

``spelling_corrections`` asks the lexicon once per search (one query, whatever the number of
words), through the pg_trgm index on ``word``.
"""

from django.conf import settings
from django.db import connection, transaction

from listings.search.keywords import WORD, Groups, prefix_term
from listings.selectors import public_listings

LEXICON_TABLE = "listings_search_word"
# pg_try_advisory_xact_lock key: the bytes of "lexicon" read as an integer.
ADVISORY_LOCK_KEY = int.from_bytes(b"lexicon", "big")
# Shortest word worth correcting (and kept in the lexicon): below this, trigrams say little.
MIN_WORD_LENGTH = 3
MAX_WORD_LENGTH = 40

# Words of the listing exactly where its search vector takes them from, unstemmed.
DOCUMENT_WORDS = (
    "tsvector_to_array(to_tsvector('marketplace_words', coalesce(title, '') || ' ' "
    "|| coalesce(description, ''))"
    " || jsonb_to_tsvector('marketplace_words', coalesce(attributes, '{}'), '[\"string\"]'))"
)


def lexicon_refresh() -> int | None:
    """Rebuild the lexicon from the searchable listings; return its number of words, or
    None when another refresh holds the lock (runs twice at once are harmless: one skips).

    One transaction: readers see the old lexicon until the commit. Rows are upserted and the
    vanished ones deleted, so an unchanged word is not rewritten.
    """
    searchable = public_listings().values("title", "description", "attributes")
    listings_sql, params = searchable.query.sql_with_params()
    table = LEXICON_TABLE
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(
            f"""
            CREATE TEMP TABLE fresh_search_words ON COMMIT DROP AS
            SELECT word, count(*) AS ndoc
            FROM ({listings_sql}) AS listing
            CROSS JOIN LATERAL unnest({DOCUMENT_WORDS}) AS word
            WHERE length(word) BETWEEN %s AND %s AND word !~ '[[:digit:]_]'
            GROUP BY word
            """,  # noqa: S608 - SQL built from the ORM and constants
            [*params, MIN_WORD_LENGTH, MAX_WORD_LENGTH],
        )
        cursor.execute(
            f"DELETE FROM {table} AS known WHERE NOT EXISTS "  # noqa: S608 - constant
            "(SELECT 1 FROM fresh_search_words AS fresh WHERE fresh.word = known.word)"
        )
        cursor.execute(
            f"""
            INSERT INTO {table} (word, stem, ndoc)
            SELECT word, (ts_lexize('english_stem', word))[1], ndoc FROM fresh_search_words
            ON CONFLICT (word) DO UPDATE SET ndoc = EXCLUDED.ndoc
            WHERE {table}.ndoc <> EXCLUDED.ndoc
            """  # noqa: S608 - constant
        )
        # Dropped now, not only at the commit: the caller's transaction may refresh again.
        cursor.execute("DROP TABLE fresh_search_words")
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - constant
        return cursor.fetchone()[0]


def correctable_words(groups: Groups) -> list[tuple[str, bool]]:
    """(word, is the prefix-matched last word) of every plain, non-negated word worth a
    correction: letters only, at least MIN_WORD_LENGTH of them."""
    last = prefix_term(groups)
    words = []
    for group in groups:
        for term in group:
            text = term.text
            if term.phrase or term.negated or not WORD.match(text) or len(text) < MIN_WORD_LENGTH:
                continue
            if any(character.isdigit() or character == "_" for character in text):
                continue
            words.append((text, term is last))
    return words


CORRECTIONS_SQL = f"""
WITH input AS (
    SELECT raw, lower(unaccent(raw)) AS word, prefix
    FROM unnest(%(words)s::text[], %(prefix)s::boolean[]) AS given(raw, prefix)
)
SELECT input.raw, best.word
FROM input
CROSS JOIN LATERAL (
    SELECT candidate.word
    FROM {LEXICON_TABLE} AS candidate
    WHERE candidate.word %% input.word AND similarity(candidate.word, input.word) >= %(threshold)s
    ORDER BY similarity(candidate.word, input.word) DESC, candidate.ndoc DESC, candidate.word
    LIMIT 1
) AS best
WHERE NOT EXISTS (SELECT 1 FROM {LEXICON_TABLE} AS known WHERE known.word = input.word)
  AND NOT EXISTS (
      SELECT 1 FROM {LEXICON_TABLE} AS known
      WHERE known.stem = (ts_lexize('english_stem', input.word))[1]
  )
  -- The last word is also searched as a prefix: a word that starts with it is known.
  AND NOT (input.prefix AND EXISTS (
      SELECT 1 FROM {LEXICON_TABLE} AS known
      WHERE known.word LIKE lower(unaccent(%(prefix_word)s)) || '%%'
  ))
"""  # noqa: S608 - constant


def spelling_corrections(groups: Groups) -> dict[str, str]:
    """{typed word (lower-case): the closest lexicon word} for each word of the query that
    the lexicon does not know (not as typed, not by its stem, and, for the last word, not as
    the start of a word) and that has a close enough neighbour (pg_trgm similarity at least
    ``SEARCH_SPELLING_MIN_SIMILARITY``). One query; none when no word qualifies."""
    words = correctable_words(groups)
    if not words:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            CORRECTIONS_SQL,
            {
                "words": [word for word, _ in words],
                "prefix": [prefix for _, prefix in words],
                "threshold": settings.SEARCH_SPELLING_MIN_SIMILARITY,
                # Letters only (see correctable_words): no LIKE wildcard in it.
                "prefix_word": next((word for word, prefix in words if prefix), ""),
            },
        )
        return {raw.lower(): word for raw, word in cursor.fetchall()}
