"""The optional search engine: a tantivy index of the searchable listings, behind ``run_search``.

Off by default (``SEARCH_ENGINE = ""``): PostgreSQL answers every search, nothing here runs
and tantivy is not even imported. With ``SEARCH_ENGINE = "tantivy"`` the searches PostgreSQL
finds slow at scale are answered from the index at ``SEARCH_ENGINE_PATH``:

- searches with keywords (with any category, price, pricing type, attribute and radius
  filter, in every sort);
- attribute-filter searches without keywords.

Everything else (browse, price-only, radius-only searches: already within budget in SQL)
stays on PostgreSQL, as does every search while the index is missing or unreadable (logged).
PostgreSQL stays the source of truth: the index is kept in sync by the outbox
(``listings.search.sync``) and rebuilt by ``manage.py search_reindex``.

What the engine gives (``search``, an ``EngineAnswer``): the page's ids in its order, the
exact total, the facet counts (the shapes of ``listings.search.facets``) and the next
offset; ``run_search`` then reads the cards in ONE SQL query and signs the offset as the page
cursor (``CURSOR_SALT``), at most ``SEARCH_ENGINE_MAX_OFFSET`` results deep.

Best match (an approximation of ``listings.search.ranking``), in levels: every listing whose
title alone matches the keywords first (``TITLE_MATCH_SCORE`` added), then the fields each
keyword group is found in, scored 1.0 (title), 0.1 (description), 0.01 (attribute text): the
weights of ts_rank_cd in SQL, counted once per field, plus ``ADJACENT_SCORE`` when the words
are next to each other in the title (ts_rank_cd counts every occurrence and their proximity;
not BM25, whose length normalisation and document frequency put short listings first where
SQL ties and shows the newest). Within a level, newest first (to about two hours: tantivy's
``weight_by_field``, see ``_page``; exactly in radius searches). ``bench/search_bench.py
--engine tantivy`` measures the overlap of the first page with SQL's exhaustive ranking.

Radius: the circle's latitude/longitude box in tantivy, then every match in the box read
from the fast fields and checked against the circle in Python (``_radius_search``), so counts
and facets stay exact; a box holding more than ``SEARCH_ENGINE_RADIUS_SCAN`` matches is left
to PostgreSQL.

Text analysis matches the ``marketplace_search`` configuration (listings migration 0007):
words split on non-alphanumerics, lowercased, accents folded, PostgreSQL's English stop
words dropped, Snowball English stemming. The last plain word of the keywords also matches
as a prefix of an indexed (stemmed) word, as ``keywords.prefix_term`` does in SQL.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from listings.search.keywords import Groups, Term, parse_keywords, prefix_term

if TYPE_CHECKING:  # tantivy is imported only when the engine is on
    import tantivy

# The search form (``listings.search.form.SearchForm``), valid. Not imported: the form checks
# engine cursors here, and this module stays below the form, the facets and the query.
SearchForm = Any

logger = logging.getLogger(__name__)

TOKENIZER = "marketplace"
# PostgreSQL's english.stop (the Snowball list), which marketplace_search drops.
_STOP_WORDS_TEXT = (
    "i me my myself we our ours ourselves you your yours yourself yourselves he him his himself "
    "she her hers herself it its itself they them their theirs themselves what which who whom "
    "this that these those am is are was were be been being have has had having do does did "
    "doing a an the and but if or because as until while of at by for with about against "
    "between into through during before after above below to from up down in out on off over "
    "under again further then once here there when where why how all any both each few more "
    "most other some such no nor not only own same so than too very s t can will just don "
    "should now"
)
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
# Score of a keyword found in each field: ts_rank_cd's weights of the SQL path
# (ranking.RANK_WEIGHTS).
FIELD_BOOSTS = (("title", 1.0), ("description", 0.1), ("attributes_text", 0.01))
# Added to a listing whose title alone matches: above what any listing whose title misses a
# keyword can score (1.11 per group at most), so title matches come first, as ``title_match``
# orders them in SQL; small, so the levels stay far apart relative to the recency factor.
TITLE_MATCH_SCORE = 2.0
# Added when the keywords are next to each other in the title (a tenth in the description).
ADJACENT_SCORE = 0.5
# Number attributes are indexed in the JSON field ``numbers`` as integers of millionths (the
# form's finest step is 1e-6), so every range compares integers exactly.
NUMBER_SCALE = 1_000_000
_I64 = (-(2**63), 2**63 - 1)
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_]+$")
# PostgreSQL's earth() radius in meters (earthdistance), so distances agree with SQL.
EARTH_RADIUS_M = 6_378_168.0
ENGINE_CURSOR = "engine"


def enabled() -> bool:
    return settings.SEARCH_ENGINE == "tantivy"


def _tantivy():
    import tantivy

    return tantivy


# --- Schema and documents (the contract with listings.search.sync) ----------------------


def build_schema() -> tantivy.Schema:
    """The index's schema. Fields:

    ``id`` (raw text, stored), ``id_hi``/``id_lo`` (the UUID's halves as signed 64-bit, fast:
    a hit maps to its id without reading the stored document); ``title``, ``description``,
    ``attributes_text`` (the attributes' string values) with the ``marketplace`` analyzer and
    positions; ``category``, ``currency``, ``pricing_type`` (raw text; ``category`` fast for
    its facet); ``category_num`` (the category id's first half, fast: radius searches count
    categories in Python); ``price`` (integer minor units, absent without a price); ``published``
    (microseconds since the epoch); ``lat``/``lng`` (degrees, absent without a location);
    ``attrs`` (the attributes object, JSON, raw strings, fast: enum/boolean filters and facets);
    ``numbers`` (number attributes in millionths, JSON of integers, fast: range filters).
    """
    tantivy = _tantivy()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_integer_field("id_hi", indexed=True, fast=True)
    builder.add_integer_field("id_lo", indexed=True, fast=True)
    for name in ("title", "description", "attributes_text"):
        builder.add_text_field(name, tokenizer_name=TOKENIZER, index_option="position")
    builder.add_text_field("category", tokenizer_name="raw", fast=True)
    builder.add_integer_field("category_num", fast=True)
    builder.add_text_field("currency", tokenizer_name="raw")
    builder.add_text_field("pricing_type", tokenizer_name="raw")
    builder.add_integer_field("price", indexed=True, fast=True)
    builder.add_integer_field("published", indexed=True, fast=True)
    builder.add_float_field("lat", indexed=True, fast=True)
    builder.add_float_field("lng", indexed=True, fast=True)
    builder.add_json_field("attrs", fast=True, tokenizer_name="raw")
    builder.add_json_field("numbers", fast=True, tokenizer_name="raw")
    return builder.build()


def _analyzer():
    tantivy = _tantivy()
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.custom_stopword(sorted(STOP_WORDS)))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


_ANALYZERS: dict[str, Any] = {}


def _analyzers() -> dict[str, Any]:
    """The keyword analyzer, and the fold-only one of the prefix (a half-typed word is not
    stemmed: ``marketplace_words``)."""
    if not _ANALYZERS:
        tantivy = _tantivy()
        _ANALYZERS["words"] = _analyzer()
        _ANALYZERS["fold"] = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold())
            .build()
        )
    return _ANALYZERS


def register_tokenizers(index: tantivy.Index) -> None:
    """Register the ``marketplace`` analyzer on ``index``: tantivy keeps only its name in the
    index, so every open (reader or writer) must call this before use."""
    index.register_tokenizer(TOKENIZER, _analyzer())


def index_path() -> Path:
    return Path(settings.SEARCH_ENGINE_PATH)


def open_index(*, create: bool = False) -> tantivy.Index | None:
    """The index at ``index_path()``, tokenizers registered; None (logged) when it is
    missing (and ``create`` is false) or unreadable, and the caller falls back to PostgreSQL.
    ``create``: make an empty index with ``build_schema()`` when none is there."""
    tantivy = _tantivy()
    path = index_path()
    try:
        if not (path / "meta.json").exists():
            if not create:
                logger.warning("search engine: no index at %s; searching in PostgreSQL", path)
                return None
            path.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(build_schema(), path=str(path))
        else:
            index = tantivy.Index.open(str(path))
        register_tokenizers(index)
        missing = _missing_fields(index.schema)
        if missing:
            logger.warning(
                "search engine: the index at %s lacks %s (an older version); run `manage.py "
                "search_reindex`; searching in PostgreSQL",
                path,
                ", ".join(missing),
            )
            return None
        return index
    except Exception as error:  # corrupt files, permissions, an incompatible version
        logger.warning(
            "search engine: cannot open the index at %s (%s); searching in PostgreSQL", path, error
        )
        return None


# Every field a search reads, with a value of its type (``_missing_fields``).
_FIELD_PROBES = (
    ("id", "x"),
    ("id_hi", 0),
    ("id_lo", 0),
    ("title", "x"),
    ("description", "x"),
    ("attributes_text", "x"),
    ("category", "x"),
    ("category_num", 0),
    ("currency", "x"),
    ("pricing_type", "x"),
    ("price", 0),
    ("published", 0),
    ("lat", 0.0),
    ("lng", 0.0),
    ("attrs.x", "x"),
    ("numbers.x", 0),
)


def _missing_fields(schema) -> list[str]:
    """The fields of ``build_schema()`` an index (built by an older version) lacks."""
    tantivy = _tantivy()
    missing = []
    for name, value in _FIELD_PROBES:
        try:
            tantivy.Query.term_query(schema, name, value)
        except ValueError:
            missing.append(name.split(".")[0])
    return missing


def _signed64(value: int) -> int:
    return value - 2**64 if value >= 2**63 else value


def id_halves(listing_id: uuid.UUID | str) -> tuple[int, int]:
    number = uuid.UUID(str(listing_id)).int
    return _signed64(number >> 64), _signed64(number & (2**64 - 1))


def id_from_halves(high: int, low: int) -> str:
    return str(uuid.UUID(int=((high % 2**64) << 64) | (low % 2**64)))


def _micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _scaled(value: Decimal | float | int) -> int:
    scaled = int((Decimal(str(value)) * NUMBER_SCALE).to_integral_value())
    return min(max(scaled, _I64[0]), _I64[1])


def _strings(value: Any) -> Iterable[str]:
    """String leaves of a JSON value (what ``jsonb_to_tsvector(..., '["string"]')`` reads)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


DOCUMENT_FIELDS = (
    "id",
    "title",
    "description",
    "attributes",
    "category_id",
    "currency",
    "pricing_type",
    "price_cents",
    "published_at",
    "location_lat",
    "location_lng",
)


def document(row: dict) -> tantivy.Document:
    """The index document of a listing row (``DOCUMENT_FIELDS`` as a dict)."""
    tantivy = _tantivy()
    doc = tantivy.Document()
    high, low = id_halves(row["id"])
    doc.add_text("id", str(row["id"]))
    doc.add_integer("id_hi", high)
    doc.add_integer("id_lo", low)
    doc.add_text("title", row["title"] or "")
    doc.add_text("description", row["description"] or "")
    attributes = row["attributes"] or {}
    if isinstance(attributes, str):  # Django's psycopg setup may hand jsonb back as text
        import json

        attributes = json.loads(attributes)
    doc.add_text("attributes_text", " ".join(_strings(attributes)))
    doc.add_text("category", str(row["category_id"]))
    doc.add_integer("category_num", id_halves(row["category_id"])[0])
    doc.add_text("currency", row["currency"] or "")
    doc.add_text("pricing_type", row["pricing_type"] or "")
    if row["price_cents"] is not None:
        doc.add_integer("price", int(row["price_cents"]))
    if row["published_at"] is not None:
        doc.add_integer("published", _micros(row["published_at"]))
    if row["location_lat"] is not None and row["location_lng"] is not None:
        doc.add_float("lat", float(row["location_lat"]))
        doc.add_float("lng", float(row["location_lng"]))
    if isinstance(attributes, dict):
        doc.add_json("attrs", attributes)
        numbers = {
            key: _scaled(value)
            for key, value in attributes.items()
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        }
        if numbers:
            doc.add_json("numbers", numbers)
    return doc


def documents_for(listing_ids: Iterable) -> dict[str, tantivy.Document]:
    """{id: document} of the given listings that anyone may find (``public_listings()``), in
    one query; an id missing from the answer is not searchable (delete it from the index)."""
    from listings.selectors import public_listings

    ids = [str(listing_id) for listing_id in listing_ids]
    if not ids:
        return {}
    rows = public_listings().filter(pk__in=ids).values(*DOCUMENT_FIELDS)
    return {str(row["id"]): document(row) for row in rows}


# --- The reader: one index per process, reloaded when a commit changes meta.json ---------

_reader_lock = threading.Lock()
_reader: dict[str, Any] = {"index": None, "path": None, "stamp": None, "failed": False}


def _meta_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path / "meta.json")
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def reader() -> tantivy.Index | None:
    """This process's read-only index, reloaded when ``meta.json`` changed (one ``stat`` per
    search: a commit of the sync job is seen by the next search), reopened when the live path
    points to another version (``search_reindex`` swaps a symbolic link). None when unavailable.
    """
    path = index_path()
    stamp = _meta_stamp(path)
    with _reader_lock:
        if stamp is None:
            if not _reader["failed"]:
                logger.warning("search engine: no index at %s; searching in PostgreSQL", path)
            _reader.update(index=None, path=None, stamp=None, failed=True)
            return None
        real = os.path.realpath(path)
        if _reader["index"] is None or _reader["path"] != real:
            index = open_index()
            if index is None:
                _reader.update(index=None, path=None, stamp=None, failed=True)
                return None
            _reader.update(index=index, path=real, stamp=stamp, failed=False)
        elif _reader["stamp"] != stamp:
            try:
                _reader["index"].reload()
            except Exception as error:  # the files broke under it (a disk error, a hand edit)
                logger.warning(
                    "search engine: cannot reload the index at %s (%s); searching in PostgreSQL", path, error
                )
                _reader.update(index=None, path=None, stamp=None, failed=True)
                return None
            _reader["stamp"] = stamp
        return _reader["index"]


def reset_reader() -> None:
    """Forget this process's index (tests, after a reindex into a new directory)."""
    with _reader_lock:
        _reader.update(index=None, path=None, stamp=None, failed=False)


# --- Which searches the engine takes ------------------------------------------------------


def takes(form: SearchForm, data: dict) -> bool:
    """The engine is on and this search is one it answers: keywords, or attribute filters."""
    if not enabled():
        return False
    keywords = any(_analysable(term) for group in parse_keywords(data.get("q") or "") for term in group)
    filters = form.attribute_filters()
    if not keywords and not filters:
        return False
    # Attribute keys become JSON paths of the index: only plain names.
    return all(_SAFE_KEY.match(attribute["key"]) for attribute, _ in filters)


def _analysable(term: Term) -> bool:
    return bool(term.text.strip())


def engine_cursor(after: dict | None) -> bool:
    return bool(after) and after.get(ENGINE_CURSOR) is True


def cursor_error(form: SearchForm, data: dict) -> str | None:
    """The form error of an engine cursor this search cannot continue (the engine is off,
    the index is unavailable, or the search is PostgreSQL's), or past the depth cap."""
    after = data.get("after")
    if not engine_cursor(after):
        return None
    if not isinstance(after.get("offset"), int) or after["offset"] < 0:
        return "This results page link is no longer valid; start the search again."
    if after["offset"] >= settings.SEARCH_ENGINE_MAX_OFFSET:
        return (
            f"Only the first {settings.SEARCH_ENGINE_MAX_OFFSET:,} results can be paged through; "
            "narrow the search (category, price, filters) to see others."
        )
    if not takes(form, data) or reader() is None:
        return "This results page link is no longer valid; start the search again."
    return None


# --- Queries ------------------------------------------------------------------------------


class _Declined(Exception):
    """The engine does not take this search after all (PostgreSQL answers it)."""


def _tokens(text: str) -> list[tuple[int, str]]:
    analyzed = _analyzers()["words"].pre_tokenize(text)
    return [(token.position, token.text) for token in analyzed.tokens]


def _term_query(schema, term: Term, fields, prefix: bool):
    """``term`` (a word or phrase, its negation left to the caller) over ``fields``, each
    boosted; None when it has no word left (stop words only), as in a tsquery."""
    tantivy = _tantivy()
    tokens = _tokens(term.text)
    folded = None
    if prefix:
        words = _analyzers()["fold"].analyze(term.text)
        folded = words[0] if len(words) == 1 else None
    if not tokens and folded is None:
        return None
    per_field = []
    for field, boost in fields:
        parts = []
        if len(tokens) == 1:
            parts.append(tantivy.Query.term_query(schema, field, tokens[0][1]))
        elif tokens:
            first = tokens[0][0]
            parts.append(
                tantivy.Query.phrase_query(
                    schema, field, [(position - first, text) for position, text in tokens]
                )
            )
        if folded is not None:
            # The terms starting with the word: a Levenshtein automaton at distance 0, which
            # builds in a tenth of the time of the equivalent regex (``word.*``).
            parts.append(tantivy.Query.fuzzy_term_query(schema, field, folded, distance=0, prefix=True))
        query = (
            parts[0]
            if len(parts) == 1
            else tantivy.Query.boolean_query([(tantivy.Occur.Should, p) for p in parts])
        )
        # A constant per field matched (not BM25): ts_rank_cd has no length normalisation nor
        # document frequency, so most matches tie in SQL and recency decides; see search().
        per_field.append(tantivy.Query.const_score_query(query, boost))
    if len(per_field) == 1:
        return per_field[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, query) for query in per_field])


def keyword_query(schema, groups: Groups, fields):
    """The groups (AND of ORs, see ``keywords``) as one tantivy query over ``fields``;
    None when nothing is left (a tsquery of stop words only, which matches nothing)."""
    tantivy = _tantivy()
    last = prefix_term(groups)
    clauses = []
    for group in groups:
        alternatives = []
        for term in group:
            query = _term_query(schema, term, fields, prefix=term is last)
            if query is None:
                continue
            if term.negated:
                if len(group) == 1:  # "-word": the match must not have it
                    clauses.append((tantivy.Occur.MustNot, query))
                    continue
                # "a OR -b": an alternative that matches whatever lacks b
                query = tantivy.Query.boolean_query(
                    [(tantivy.Occur.Must, tantivy.Query.all_query()), (tantivy.Occur.MustNot, query)]
                )
            alternatives.append(query)
        if not alternatives:
            continue
        if len(alternatives) == 1:
            clauses.append((tantivy.Occur.Must, alternatives[0]))
        else:
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in alternatives]),
                )
            )
    if not clauses:
        return None
    if all(occur == tantivy.Occur.MustNot for occur, _ in clauses):
        clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
    return tantivy.Query.boolean_query(clauses)


def _filter(query):
    """A filter clause: matches without adding to the score."""
    return _tantivy().Query.const_score_query(query, 0.0)


def _number_query(index, key: str, low: Decimal | None, high: Decimal | None):
    lower = "*" if low is None else str(_scaled(low))
    upper = "*" if high is None else str(_scaled(high))
    # Integers only (the field holds integers only): tantivy's range parser over a JSON path.
    return index.parse_query(f"numbers.{key}:[{lower} TO {upper}]")


def _filters(index, schema, form: SearchForm, data: dict, *, category: bool, attributes: bool) -> list:
    """Every filter but keywords and radius, as tantivy queries."""
    tantivy = _tantivy()
    Q = tantivy.Query
    parts = []
    if category and form.category_node is not None:
        parts.append(Q.term_set_query(schema, "category", form.category_node.descendant_ids()))
    priced = data.get("min_price_cents") is not None or data.get("max_price_cents") is not None
    if priced or data.get("sort") in ("price_asc", "price_desc"):
        parts.append(Q.term_query(schema, "currency", data["currency"]))
        parts.append(
            Q.range_query(
                schema,
                "price",
                tantivy.FieldType.Integer,
                data.get("min_price_cents") if data.get("min_price_cents") is not None else _I64[0],
                data.get("max_price_cents") if data.get("max_price_cents") is not None else _I64[1],
            )
        )
    if data.get("pricing_type"):
        parts.append(Q.term_query(schema, "pricing_type", data["pricing_type"]))
    if attributes:
        for attribute, value in form.attribute_filters():
            key = attribute["key"]
            if attribute["type"] == "number":
                parts.append(_number_query(index, key, *value))
            elif attribute["type"] == "boolean":
                parts.append(Q.term_query(schema, f"attrs.{key}", True))
            else:
                options = [Q.term_query(schema, f"attrs.{key}", option) for option in value]
                parts.append(
                    options[0]
                    if len(options) == 1
                    else Q.boolean_query([(tantivy.Occur.Should, option) for option in options])
                )
    return parts


def _box(schema, point: tuple[float, float], radius_km: int) -> list:
    """Latitude and longitude ranges holding the circle (more at the poles and the antimeridian)."""
    tantivy = _tantivy()
    lat, lng = point
    degrees = math.degrees(radius_km * 1000 / EARTH_RADIUS_M) * 1.001
    parts = [tantivy.Query.range_query(schema, "lat", tantivy.FieldType.Float, lat - degrees, lat + degrees)]
    cos = math.cos(math.radians(min(89.9, abs(lat) + degrees)))
    lng_degrees = degrees / cos if cos > 0 else 360
    if lng_degrees < 180 and abs(lat) + degrees < 89.9:
        low, high = lng - lng_degrees, lng + lng_degrees
        ranges = [(max(low, -180), min(high, 180))]
        if low < -180:
            ranges.append((low + 360, 180))
        if high > 180:
            ranges.append((-180, high - 360))
        lngs = [tantivy.Query.range_query(schema, "lng", tantivy.FieldType.Float, a, b) for a, b in ranges]
        parts.append(
            lngs[0]
            if len(lngs) == 1
            else tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in lngs])
        )
    else:
        parts.append(tantivy.Query.range_query(schema, "lng", tantivy.FieldType.Float, -180.0, 180.0))
    return parts


def distance_m(point: tuple[float, float], lat: float, lng: float) -> float:
    """Great-circle distance in meters on PostgreSQL's earth() sphere (earth_distance)."""
    lat1, lng1, lat2, lng2 = map(math.radians, (point[0], point[1], lat, lng))
    a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class _Circle:
    """The search's circle, for many points: the haversine term ``a`` (monotonic in the
    distance) compared with the radius's, without a square root or arcsine per point."""

    def __init__(self, point: tuple[float, float], meters: float):
        self.lat, self.lng = math.radians(point[0]), math.radians(point[1])
        self.cos_lat = math.cos(self.lat)
        self.limit = math.sin(min(meters / (2 * EARTH_RADIUS_M), math.pi / 2)) ** 2

    def a(self, lat: float, lng: float) -> float:
        lat, lng = math.radians(lat), math.radians(lng)
        return (
            math.sin((lat - self.lat) / 2) ** 2
            + self.cos_lat * math.cos(lat) * math.sin((lng - self.lng) / 2) ** 2
        )

    @staticmethod
    def meters(a: float) -> float:
        return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _all(parts: list):
    tantivy = _tantivy()
    if not parts:
        return tantivy.Query.all_query()
    if len(parts) == 1:
        return parts[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, part) for part in parts])


# --- The search ---------------------------------------------------------------------------


@dataclass
class EngineAnswer:
    """One page of an engine search, before the cards are read (``query._engine_result``)."""

    ids: list[str]  # the page, in the engine's order
    distances: dict[str, float]  # meters from the search's point (distance sort)
    total: int  # exact
    per_category: dict[str, int]  # matches per category id, without the category filter
    per_value: dict  # {(key, value): matches} of enum/boolean attributes, without attribute filters
    next_offset: int | None


def search(form: SearchForm, data: dict | None = None, *, page_size: int = 24) -> EngineAnswer | None:
    """The engine's answer for a valid form (``data``: its cleaned data, maybe with other
    keywords: the spelling step's second search); None when the engine is off, unavailable,
    or does not take this search (then PostgreSQL answers). A PostgreSQL cursor (issued while
    the engine was down) is continued by PostgreSQL: None too. No SQL (``run_search`` reads
    the page's cards in one query).
    """
    data = form.cleaned_data if data is None else data
    if not takes(form, data):
        return None
    after = data.get("after")
    if after and not engine_cursor(after):
        return None
    index = reader()
    if index is None:
        return None
    try:
        return _search(index, form, data, page_size)
    except _Declined:
        return None
    except BaseException as error:  # tantivy panics are BaseExceptions (pyo3 PanicException)
        if isinstance(error, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        logger.exception("search engine: the search failed; searching in PostgreSQL")
        return None


def _search(index, form: SearchForm, data: dict, page_size: int) -> EngineAnswer:
    tantivy = _tantivy()
    Q, Occur = tantivy.Query, tantivy.Occur
    schema = index.schema
    searcher = index.searcher()
    sort = data["sort"]
    offset = data["after"]["offset"] if data.get("after") else 0
    groups = parse_keywords(data.get("q") or "")
    has_keywords = any(_analysable(term) for group in groups for term in group)
    point = data.get("point")

    words = keyword_query(schema, groups, FIELD_BOOSTS) if has_keywords else None
    if has_keywords and words is None:
        words = Q.empty_query()  # stop words only: nothing, as in SQL

    def matching(*, category: bool = True, attributes: bool = True, scored: bool = False, ids=None):
        """The search as a tantivy query: every filter (all but the category, or all but the
        attribute filters, for the facets), the radius's box, maybe restricted to ``ids``;
        ``scored``: ranked for best match."""
        parts = [
            _filter(p) for p in _filters(index, schema, form, data, category=category, attributes=attributes)
        ]
        if point:
            parts.extend(_filter(p) for p in _box(schema, point, data["radius_km"]))
        if ids is not None:
            parts.append(_filter(Q.term_set_query(schema, "id", ids)))
        if words is not None:
            parts.append(words if scored else _filter(words))
        query = _all(parts)
        if not (scored and sort == "relevance" and words is not None):
            return query
        clauses = [(Occur.Must, query)]
        title_words = keyword_query(schema, groups, (("title", 1.0),))
        if title_words is not None:
            clauses.append((Occur.Should, Q.const_score_query(title_words, TITLE_MATCH_SCORE)))
        clauses += [(Occur.Should, bonus) for bonus in _adjacency_bonus(schema, groups)]
        return Q.boolean_query(clauses) if len(clauses) > 1 else query

    keys = [a for a in form.attribute_schema if a["type"] in ("enum", "boolean")]
    if point:
        page, total, per_category, per_value = _radius_search(
            searcher, schema, form, data, matching, keys, offset, page_size
        )
    else:
        page, total = _page(searcher, matching(scored=True), sort, offset, page_size)
        # Facets: categories without the category filter; attribute values without attribute
        # filters (only when the category defines enum/boolean attributes).
        per_category = _category_counts(searcher, form, matching(category=False))
        per_value = _attribute_counts(searcher, keys, matching(attributes=False)) if keys else {}
    return EngineAnswer(
        ids=[listing_id for listing_id, _ in page],
        distances={listing_id: meters for listing_id, meters in page if meters is not None},
        total=total,
        per_category=per_category,
        per_value=per_value,
        next_offset=offset + page_size if offset + page_size < total else None,
    )


def _category_counts(searcher, form: SearchForm, query) -> dict[str, int]:
    size = max(len(form.tree.by_id), 1) + 10
    answer = searcher.aggregate(
        query, {"c": {"terms": {"field": "category", "size": size, "segment_size": size}}}
    )
    return {bucket["key"]: bucket["doc_count"] for bucket in answer["c"]["buckets"]}


def _attribute_counts(searcher, keys: list[dict], query) -> dict:
    """{(key, value): matches of ``query``} for the enum/boolean attributes ``keys``."""
    aggregations = {}
    for position, attribute in enumerate(keys):
        count = len(attribute.get("options") or ()) + 10
        aggregations[f"a{position}"] = {
            "terms": {"field": f"attrs.{attribute['key']}", "size": count, "segment_size": max(count, 100)}
        }
    answer = searcher.aggregate(query, aggregations)
    per_value: dict = {}
    for position, attribute in enumerate(keys):
        for bucket in answer.get(f"a{position}", {}).get("buckets", []):
            value = bucket["key"]
            if attribute["type"] == "boolean":
                value = {"true": True, "false": False}.get(bucket.get("key_as_string"), bool(value))
            per_value[(attribute["key"], value)] = bucket["doc_count"]
    return per_value


# Fast fields read for every match in a radius's box.
_RADIUS_COLUMNS = ("id_hi", "id_lo", "lat", "lng", "category_num", "published", "price")


def _radius_search(
    searcher, schema, form: SearchForm, data: dict, matching, keys, offset: int, page_size: int
):
    """A radius search, exact: every match of the search without its category filter inside
    the circle's box (at most SEARCH_ENGINE_RADIUS_SCAN, else PostgreSQL answers) is read from
    the fast fields, checked against the circle (great-circle distance, as earth_distance),
    then counted per category (the category facet), filtered by the category (the total),
    sorted (score or sort key, then newest) and sliced (the page). The attribute facet counts
    the box in tantivy, less what its matches outside the circle hold."""
    point = data["point"]
    circle = _Circle(point, data["radius_km"] * 1000)
    cap = settings.SEARCH_ENGINE_RADIUS_SCAN
    found = searcher.search(matching(category=False, scored=True), cap + 1, count=True)
    if found.count > cap:
        raise _Declined
    addresses = [address for _, address in found.hits]
    columns = [searcher.fast_field_values(name, addresses) for name in _RADIUS_COLUMNS]
    by_num = {id_halves(node_id)[0]: node_id for node_id in form.tree.by_id}
    chosen = None
    if form.category_node is not None:
        chosen = {id_halves(node_id)[0] for node_id in form.category_node.descendant_ids()}
    per_category: dict[str, int] = {}
    rows, outside = [], []
    for (score, _), high, low, lat, lng, category, published, price in zip(found.hits, *columns, strict=True):
        distance = circle.a(lat, lng) if lat is not None and lng is not None else None  # haversine a
        if distance is None or distance > circle.limit:
            if chosen is None or category in chosen:
                outside.append(id_from_halves(high, low))
            continue
        if category in by_num:
            per_category[by_num[category]] = per_category.get(by_num[category], 0) + 1
        if chosen is None or category in chosen:
            rows.append((score, published or 0, price, distance, high, low))
    sort = data["sort"]
    # The SQL orders, ties broken by id in the same direction (id: the UUID's halves, unsigned).
    key = {
        "relevance": lambda r: (-r[0], -r[1], -(r[4] % 2**64), -(r[5] % 2**64)),
        "newest": lambda r: (-r[1], -(r[4] % 2**64), -(r[5] % 2**64)),
        "price_asc": lambda r: (r[2], r[4] % 2**64, r[5] % 2**64),
        "price_desc": lambda r: (-r[2], -(r[4] % 2**64), -(r[5] % 2**64)),
        "distance": lambda r: (r[3], r[4] % 2**64, r[5] % 2**64),
    }[sort]
    rows.sort(key=key)
    page = [
        (id_from_halves(high, low), circle.meters(distance))
        for _, _, _, distance, high, low in rows[offset : offset + page_size]
    ]
    per_value: dict = {}
    if keys:
        if form.attribute_filters():
            # The facet's matches (without attribute filters) differ: their own corners.
            outside = sorted(_corners(searcher, schema, matching(attributes=False), point, data))
        per_value = _attribute_counts(searcher, keys, matching(attributes=False))
        if outside:
            for value, count in _attribute_counts(
                searcher, keys, matching(attributes=False, ids=outside)
            ).items():
                per_value[value] = per_value.get(value, 0) - count
    return page, len(rows), per_category, per_value


def _corners(searcher, schema, query, point: tuple[float, float], data: dict) -> list[str]:
    """Ids of the matches of ``query`` (the box included) outside the circle: only those
    outside a box inside the circle are read. More than SEARCH_ENGINE_RADIUS_SCAN of them: the
    search is PostgreSQL's (``_Declined``)."""
    tantivy = _tantivy()
    inner = _inner_box(schema, point, data["radius_km"])
    if inner is not None:
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.MustNot, inner)])
    found = searcher.search(query, settings.SEARCH_ENGINE_RADIUS_SCAN + 1, count=True)
    if found.count > settings.SEARCH_ENGINE_RADIUS_SCAN:
        raise _Declined
    addresses = [address for _, address in found.hits]
    columns = [searcher.fast_field_values(name, addresses) for name in ("id_hi", "id_lo", "lat", "lng")]
    circle = _Circle(point, data["radius_km"] * 1000)
    return [
        id_from_halves(high, low)
        for high, low, lat, lng in zip(*columns, strict=True)
        if lat is None or lng is None or circle.a(lat, lng) > circle.limit
    ]


def _inner_box(schema, point: tuple[float, float], radius_km: int):
    """Latitude and longitude ranges wholly inside the circle (None where it does not apply:
    near a pole or the antimeridian). With |dlat| <= a and |dlng| <= b, the haversine term is
    at most sin^2(a/2) + cos(lat0) sin^2(b/2) (cos(lat) <= 1), kept at or below the radius's."""
    tantivy = _tantivy()
    d = radius_km * 1000 / EARTH_RADIUS_M
    lat0, lng0 = point
    cos0 = math.cos(math.radians(lat0))
    a = d * 0.7
    room = (math.sin(d / 2) ** 2 - math.sin(a / 2) ** 2) / cos0 if cos0 > 0.05 else -1
    if d > 1 or room <= 0 or room >= 1:
        return None
    b = 2 * math.asin(math.sqrt(room)) * 0.999
    a_deg, b_deg = math.degrees(a) * 0.999, math.degrees(b)
    if abs(lat0) + a_deg > 85 or abs(lng0) + b_deg >= 180:
        return None
    Q, F = tantivy.Query, tantivy.FieldType
    return Q.boolean_query(
        [
            (tantivy.Occur.Must, Q.range_query(schema, "lat", F.Float, lat0 - a_deg, lat0 + a_deg)),
            (tantivy.Occur.Must, Q.range_query(schema, "lng", F.Float, lng0 - b_deg, lng0 + b_deg)),
        ]
    )


def _adjacency_bonus(schema, groups: Groups) -> list:
    """ts_rank_cd scores words found next to each other (a cover without noise) above the same
    words apart: the plain words of the keywords as a phrase, in the title (ADJACENT_SCORE)
    and in the description (a tenth of it)."""
    tantivy = _tantivy()
    tokens: list[str] = []
    for group in groups:
        if len(group) == 1 and not group[0].negated and not group[0].phrase:
            tokens += [text for _, text in _tokens(group[0].text)]
    if len(tokens) < 2:
        return []
    words = list(enumerate(tokens))
    return [
        tantivy.Query.const_score_query(tantivy.Query.phrase_query(schema, field, words), score)
        for field, score in (("title", ADJACENT_SCORE), ("description", ADJACENT_SCORE / 10))
    ]


def _page(
    searcher, query, sort: str, offset: int, page_size: int
) -> tuple[list[tuple[str, float | None]], int]:
    """[(id, None)] of one page, and the exact total."""
    tantivy = _tantivy()
    if sort == "relevance":
        # Recency within a level: tantivy multiplies each score by log2(2 + published), which
        # grows by about 5e-4 a year (in f32: steps of about two hours), less than the smallest
        # gap between two levels (0.01 on a score below 2 + 1.11 per keyword group).
        found = searcher.search(query, page_size, count=True, offset=offset, weight_by_field="published")
    else:
        field, order = {
            "newest": ("published", tantivy.Order.Desc),
            "relevance": ("published", tantivy.Order.Desc),  # relevance without words: newest
            "price_asc": ("price", tantivy.Order.Asc),
            "price_desc": ("price", tantivy.Order.Desc),
        }[sort]
        found = searcher.search(
            query, page_size, count=True, order_by_field=field, order=order, offset=offset
        )
    addresses = [address for _, address in found.hits]
    highs = searcher.fast_field_values("id_hi", addresses)
    lows = searcher.fast_field_values("id_lo", addresses)
    rows = [(id_from_halves(h, lo), score) for (score, _), h, lo in zip(found.hits, highs, lows, strict=True)]
    if sort == "relevance" and rows:
        # Recency breaks equal scores (within the page: pages still join without gaps).
        published = searcher.fast_field_values("published", addresses)
        order_keys = [
            (-(score or 0.0), -(stamp or 0), row[0])
            for row, (score, _), stamp in zip(rows, found.hits, published, strict=True)
        ]
        rows = [row for _, row in sorted(zip(order_keys, rows, strict=True), key=lambda pair: pair[0])]
    return [(listing_id, None) for listing_id, _ in rows], found.count
