"""One page of search results: ordering, keyset cursors, and ``run_search``, which issues a
fixed number of queries whatever the page size (the page, the capped total, the category
facet and the attribute facet)."""

from dataclasses import dataclass
from datetime import datetime

from django.core import signing
from django.db import connections, router
from django.db.models import QuerySet
from django.utils import timezone

from listings.categories import attach_categories
from listings.models import Listing
from listings.search import engine
from listings.search.expressions import EarthDistance, earth_point, keyword_query, listing_earth
from listings.search.facets import (
    AttributeFacet,
    CategoryFacet,
    attribute_facets,
    category_facets,
    count_and_facets,
)
from listings.search.filters import (
    LISTING_EARTH,
    POINT_EARTH,
    TABLE,
    filtered_listings,
    matching_sql,
    public_where,
)
from listings.search.form import CURSOR_SALT, SearchForm
from listings.search.keywords import parse_keywords, rewrite_words, unparse
from listings.search.lexicon import spelling_corrections
from listings.search.ranking import after_newest, after_relevance, exhaustive, ranked_candidates, tail
from marketplace.db import loaded_instances

PAGE_SIZE = 24
# Sort key (column or annotation) and direction; ties are broken by id in the same direction,
# so one index (key, id) serves both a sort and its reverse.
SORT_KEYS = {
    # Best match: (title_match, rank, published_at, id), see listings.search.ranking.
    "relevance": ("rank", "desc"),
    "newest": ("published_at", "desc"),
    "price_asc": ("price_cents", "asc"),
    "price_desc": ("price_cents", "desc"),
    "distance": ("distance_key", "asc"),
}
# What a result card shows; the page query reads nothing else (no description, no vector).
CARD_FIELDS = (
    "id",
    "slug",
    "title",
    "price_cents",
    "currency",
    "pricing_type",
    "primary_image_url",
    "location_city",
    "status",
    "published_at",
    # Its id: the category itself comes from the category tree (categories.attach_categories).
    "category",
)
# Their columns, in the model's field order (as the ORM selects them).
CARD_COLUMNS = tuple(field.attname for field in Listing._meta.concrete_fields if field.name in CARD_FIELDS)


@dataclass
class SearchResult:
    listings: list[Listing]
    next_cursor: str | None
    total: int
    total_capped: bool
    category_facets: list[CategoryFacet]
    attribute_facets: list[AttributeFacet]
    sort: str
    # The keywords with their misspelt words corrected, offered as "Did you mean ...?".
    did_you_mean: str | None = None
    # Set when the typed keywords found nothing and these are the results of the corrected
    # ones (``did_you_mean``): the keywords as typed, for "search instead for ...".
    corrected_from: str | None = None

    @property
    def total_display(self) -> str:
        return f"{self.total:,}+" if self.total_capped else f"{self.total:,}"


def _ordered_page(data: dict, form: SearchForm, *, radius_box: bool) -> tuple[list[Listing], bool]:
    """The first PAGE_SIZE listings of a search in a sort other than best match, after the
    cursor, as cards; and whether more follow. One SELECT around ``matching_sql``: the sort
    key, then the id, both in the sort's direction (the keyset)."""
    sort = data["sort"]
    key, direction = SORT_KEYS[sort]
    columns, column_params = [f'{TABLE}."{name}"' for name in CARD_COLUMNS], []
    annotations: list[str] = []  # the names of the columns after CARD_COLUMNS
    key_sql, key_params = f'{TABLE}."{key}"', []
    point = data.get("point")
    if point:
        lat, lng = float(point[0]), float(point[1])
        columns.append(f"earth_distance({POINT_EARTH}, {LISTING_EARTH}) AS distance")
        column_params += [lat, lng]
        annotations.append("distance")
        if sort == "distance":
            key_sql, key_params = f"({LISTING_EARTH} <-> {POINT_EARTH})", [lat, lng]
            columns.append(f"{key_sql} AS distance_key")
            column_params += key_params
            annotations.append("distance_key")
    sql, params = matching_sql(", ".join(columns), data, form, radius_box=radius_box)
    params = [*column_params, *params]
    after = data.get("after")
    if after:
        value = after["value"]
        if key == "published_at":
            value = datetime.fromisoformat(value)
        beyond = "<" if direction == "desc" else ">"
        sql += f' AND ({key_sql} {beyond} %s OR ({key_sql} = %s AND {TABLE}."id" {beyond} %s))'
        params += [*key_params, value, *key_params, value, after["id"]]
    order = "DESC" if direction == "desc" else "ASC"
    ordered_by = "distance_key" if sort == "distance" else key_sql
    sql += f' ORDER BY {ordered_by} {order}, {TABLE}."id" {order} LIMIT %s'
    alias = router.db_for_read(Listing)
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [*params, PAGE_SIZE + 1])
        rows = cursor.fetchall()
    listings = cards_from_rows(rows[:PAGE_SIZE], alias, tuple(annotations))
    return listings, len(rows) > PAGE_SIZE


def cards_from_rows(rows: list[tuple], alias: str, extra: tuple[str, ...] = ()) -> list[Listing]:
    """Listings from rows of the CARD_COLUMNS then the ``extra`` annotations (set as
    attributes), as the ORM loads them with ``.only(*CARD_FIELDS)`` (``loaded_instances``)."""
    width = len(CARD_COLUMNS)
    listings = loaded_instances(Listing, CARD_COLUMNS, (row[:width] for row in rows), alias)
    if extra:
        for listing, row in zip(listings, rows, strict=True):
            for name, value in zip(extra, row[width:], strict=True):
                setattr(listing, name, value)
    return listings


def _cursor_for(listing: Listing, sort: str, zone: int = 0) -> str:
    if sort == "relevance":
        published = listing.published_at.isoformat()
        value = [listing.title_match, listing.rank, published] if zone == 0 else published
        return signing.dumps(
            {"sort": sort, "zone": zone, "value": value, "id": str(listing.id)}, salt=CURSOR_SALT
        )
    key, _ = SORT_KEYS[sort]
    value = getattr(listing, key)
    if isinstance(value, datetime):
        value = value.isoformat()
    return signing.dumps({"sort": sort, "value": value, "id": str(listing.id)}, salt=CURSOR_SALT)


def _relevance_page(
    matching: QuerySet[Listing],
    data: dict,
    capped: bool,
    title_pool: QuerySet[Listing] | None,
    day_lists: bool = False,
) -> tuple[list[Listing], str | None]:
    """One page in the best-match order.

    When the count is exact (fewer than SEARCH_COUNT_CAP matches), every match is ranked:
    reading a thousand rows is cheap. Otherwise the ranked candidates come first (zone 0),
    then the other matches newest first (zone 1); a page that ends the candidates asks for
    the first rows of the tail.
    """
    query = keyword_query(data["q"])
    now = timezone.now()
    after = data.get("after")
    point = earth_point(data["point"]) if data.get("point") else None

    def cards(qs: QuerySet[Listing]) -> QuerySet[Listing]:
        if point is not None:
            qs = qs.annotate(distance=EarthDistance(point, listing_earth()))
        return qs.only(*CARD_FIELDS)

    rows: list[tuple[Listing, int]] = []
    if not after or after.get("zone", 0) == 0:
        ranked = (
            ranked_candidates(matching, query, now, title_pool, day_lists)
            if capped
            else exhaustive(matching, query)
        )
        if after:
            ranked = ranked.filter(after_relevance(after["value"], after["id"]))
        rows = [(listing, 0) for listing in cards(ranked)[: PAGE_SIZE + 1]]
        if len(rows) <= PAGE_SIZE and capped:
            rest = cards(tail(matching, query, now, title_pool, day_lists))[: PAGE_SIZE + 1 - len(rows)]
            rows += [(listing, 1) for listing in rest]
    else:
        rest = tail(matching, query, now, title_pool, day_lists).filter(
            after_newest(after["value"], after["id"])
        )
        rows = [(listing, 1) for listing in cards(rest)[: PAGE_SIZE + 1]]
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    cursor = _cursor_for(rows[-1][0], "relevance", rows[-1][1]) if has_next else None
    return [listing for listing, _ in rows], cursor


def run_search(form: SearchForm) -> SearchResult:
    """Run a valid form's search: one page of listings plus counts and facets.

    With keywords and at most a page of results, one more query asks the spelling lexicon
    about them. When a word is unknown and close to a known one, the result offers the
    corrected keywords; when the keywords as typed find nothing (and the visitor did not ask
    for them exactly), the corrected keywords are searched instead, which costs the queries
    of a second search.
    """
    data = form.cleaned_data
    result = _answer(form, data)
    q = (data.get("q") or "").strip()
    # Only a search that fits on one page asks the lexicon: a typo finds little, and a
    # popular search (most of the traffic) costs no extra query.
    if not q or result.next_cursor or (data.get("after") and result.listings):
        return result
    groups = parse_keywords(q)
    corrections = spelling_corrections(groups)
    if not corrections:
        return result
    corrected = unparse(rewrite_words(groups, corrections))
    if result.listings or data.get("exact"):
        result.did_you_mean = corrected
        return result
    corrected_result = _answer(form, {**data, "q": corrected})
    if not corrected_result.listings:
        # Nothing either way: the page of the words as typed, with the suggestion.
        result.did_you_mean = corrected
        return result
    corrected_result.did_you_mean, corrected_result.corrected_from = corrected, q
    return corrected_result


def _answer(form: SearchForm, data: dict) -> SearchResult:
    """The search engine's answer when it is on and takes this search
    (``listings.search.engine``), else PostgreSQL's."""
    if engine.enabled():
        answer = engine.search(form, data, page_size=PAGE_SIZE)
        if answer is not None:
            return _engine_result(form, data, answer)
        if engine.engine_cursor(data.get("after")):
            # The engine's page link, and the engine went away since: no page to continue.
            form.add_error(None, "This results page link is no longer valid; start the search again.")
            return _empty(data)
    return _search(form, data)


def _engine_result(form: SearchForm, data: dict, answer: engine.EngineAnswer) -> SearchResult:
    """The engine's page as a SearchResult: its cards in ONE query, in the engine's order (a
    listing no longer public since it was indexed is left out); its offset as the cursor."""
    point = data.get("point")
    found = _public_cards(answer.ids, location=bool(point))
    by_id = {str(listing.id): listing for listing in found}
    listings = [by_id[listing_id] for listing_id in answer.ids if listing_id in by_id]
    attach_categories(listings, form.tree)
    if point:
        for listing in listings:
            meters = answer.distances.get(str(listing.id))
            if meters is None and listing.location_lat is not None:
                meters = engine.distance_m(point, float(listing.location_lat), float(listing.location_lng))
            listing.distance = meters
    next_cursor = None
    if answer.next_offset is not None:
        state = {"sort": data["sort"], engine.ENGINE_CURSOR: True, "offset": answer.next_offset}
        next_cursor = signing.dumps(state, salt=CURSOR_SALT)
    return SearchResult(
        listings=listings,
        next_cursor=next_cursor,
        total=answer.total,
        total_capped=False,
        category_facets=category_facets(form.tree.roots, answer.per_category),
        attribute_facets=attribute_facets(form, answer.per_value),
        sort=data["sort"],
    )


def _public_cards(ids: list[str], *, location: bool = False) -> list[Listing]:
    """The public listings among ``ids`` as cards (``cards_from_rows``; with ``location``,
    their coordinates too), in no particular order: one SELECT."""
    if not ids:
        return []
    extra = ("location_lat", "location_lng") if location else ()
    columns = ", ".join(f'{TABLE}."{name}"' for name in (*CARD_COLUMNS, *extra))
    public, public_params = public_where()
    placeholders = ", ".join(["%s"] * len(ids))
    sql = f'SELECT {columns} FROM {TABLE} WHERE {public} AND {TABLE}."id" IN ({placeholders})'  # noqa: S608
    alias = router.db_for_read(Listing)
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [*public_params, *ids])
        rows = cursor.fetchall()
    return cards_from_rows(rows, alias, extra)


def _empty(data: dict) -> SearchResult:
    return SearchResult(
        listings=[],
        next_cursor=None,
        total=0,
        total_capped=False,
        category_facets=[],
        attribute_facets=[],
        sort=data["sort"],
    )


def _search(form: SearchForm, data: dict) -> SearchResult:
    total, capped, per_category, per_value = count_and_facets(data, form)
    # The planner cannot estimate how many rows a radius holds. Few (the count stopped short
    # of its cap): fetch them through the location index and sort. Many: walk the sort's own
    # index and check the distance on the way, which finds a page long before the end.
    radius_box = data["sort"] == "distance" or not capped
    if data["sort"] == "relevance":
        matching = filtered_listings(data, form, radius_box=radius_box)
        negated = any(term.negated for group in parse_keywords(data["q"]) for term in group)
        title_pool = (
            None if negated else filtered_listings(data, form, radius_box=radius_box, with_keywords=False)
        )
        # Candidate windows by lists of days, except where a category index serves them
        # (listings.search.ranking._newest_sql).
        day_lists = form.category_node is None
        rows, next_cursor = _relevance_page(matching, data, capped, title_pool, day_lists)
        has_next = next_cursor is not None
    else:
        rows, has_next = _ordered_page(data, form, radius_box=radius_box)
        next_cursor = _cursor_for(rows[-1], data["sort"]) if has_next else None
    attach_categories(rows, form.tree)
    if not data.get("after") and not has_next:
        # The whole result is on this page: its length is the exact total, whatever the cache says.
        total, capped = len(rows), False
    return SearchResult(
        listings=rows,
        next_cursor=next_cursor,
        total=total,
        total_capped=capped,
        category_facets=category_facets(form.tree.roots, per_category),
        attribute_facets=attribute_facets(form, per_value),
        sort=data["sort"],
    )
