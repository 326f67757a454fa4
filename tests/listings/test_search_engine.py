"""The optional search engine (listings.search.engine): the same answers as PostgreSQL on a
fixed table of searches (result sets, exact counts, facets), its routing and fallbacks, its
pagination and depth cap, and its fixed query count. The index lives in a tmp directory."""

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import signing
from django.http import QueryDict
from django.utils import timezone

from listings.categories import bump_category_tree_version
from listings.models import Listing
from listings.search import CURSOR_SALT, SearchForm, engine, query, run_search
from listings.search.sync import search_outbox_apply, search_reindex
from tests.factories import CategoryFactory, ListingFactory

pytestmark = pytest.mark.django_db

FURNITURE_SCHEMA = [
    {"key": "material", "label": "Material", "type": "enum", "options": ["Walnut", "Oak", "Pine"]},
    {"key": "width", "label": "Width", "type": "number", "unit": "in"},
    {"key": "shipping_included", "label": "Shipping included", "type": "boolean"},
    {"key": "brand", "label": "Brand", "type": "text"},
]
PHONE_SCHEMA = [
    {"key": "storage_gb", "label": "Storage", "type": "number", "unit": "GB"},
    {"key": "colour", "label": "Colour", "type": "enum", "options": ["Black", "White", "Blue"]},
]
NEW_YORK = (40.7128, -74.0060)
CHICAGO = (41.8781, -87.6298)


def make_form(**params) -> SearchForm:
    data = QueryDict(mutable=True)
    for key, value in params.items():
        data.setlist(key, [str(item) for item in value] if isinstance(value, list) else [str(value)])
    return SearchForm(data)


def valid_form(**params) -> SearchForm:
    form = make_form(**params)
    assert form.is_valid(), form.errors
    return form


@pytest.fixture
def catalogue():
    """~60 listings: a small tree, enum/number/boolean/text attributes, prices in two currencies
    (and none), three places (and none), accents, stop words and plurals."""
    furniture = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=FURNITURE_SCHEMA)
    desks = CategoryFactory(name="Desks", slug="desks", parent=furniture, attribute_schema=[])
    standing = CategoryFactory(
        name="Standing desks", slug="standing-desks", parent=desks, attribute_schema=[]
    )
    chairs = CategoryFactory(name="Chairs", slug="chairs", parent=furniture, attribute_schema=[])
    phones = CategoryFactory(name="Phones", slug="phones", attribute_schema=PHONE_SCHEMA)
    bump_category_tree_version()
    now = timezone.now()
    titles = [
        "Walnut desk",
        "Oak desk with drawers",
        "Café table",
        "The standing desk",
        "Walnut chair",
        "Pine chairs for the kitchen",
        "Desks for offices",
        "Walnut desk lamp",
        "Old oak bench",
        "Phone case",
    ]
    descriptions = [
        "Solid wood.",
        "A walnut top on steel legs.",
        "Bought in a cafe in Paris.",
        "Barely used; no scratches.",
        "Oak veneer, desk height.",
        "Matching chairs available.",
    ]
    places = [NEW_YORK, CHICAGO, (40.9, -74.3), None]
    materials = ["Walnut", "Oak", "Pine", None]
    listings = []
    for index in range(60):
        title = titles[index % len(titles)]
        category = [desks, standing, chairs, furniture, phones][index % 5]
        if category is phones:
            attributes = {
                "storage_gb": [64, 128, 256, 512][index % 4],
                "colour": ["Black", "White", "Blue"][index % 3],
            }
            if index % 7 == 0:
                attributes["storage_gb"] = 128.5
        else:
            attributes = {"width": 30 + (index * 7) % 40, "brand": ["Walnut & Co", "Hay", "Muuto"][index % 3]}
            if materials[index % 4]:
                attributes["material"] = materials[index % 4]
            if index % 3 == 0:
                attributes["shipping_included"] = True
            if index % 11 == 0:
                attributes["width"] = 47.5
        place = places[index % len(places)]
        listings.append(
            ListingFactory(
                category=category,
                title=f"{title} {index}",
                description=descriptions[index % len(descriptions)],
                attributes=attributes,
                price_cents=None if index % 13 == 0 else 1_000 + (index * 3_700) % 90_000,
                currency="EUR" if index % 4 == 1 else "USD",
                pricing_type="negotiable" if index % 5 == 2 else "fixed",
                location_lat=Decimal(str(place[0] + index * 0.01)) if place else None,
                location_lng=Decimal(str(place[1] - index * 0.01)) if place else None,
                location_city="Somewhere" if place else "",
                published_at=now - timedelta(hours=index * 5 % 53, minutes=index),
            )
        )
    # Not searchable: never in the index, never found.
    ListingFactory(category=desks, title="Walnut desk draft", status=Listing.Status.DRAFT)
    return listings


def build_index(settings, path) -> None:
    """Every public listing into a fresh index at ``path`` (``search_reindex``), engine on."""
    settings.SEARCH_ENGINE = "tantivy"
    settings.SEARCH_ENGINE_PATH = str(path)
    engine.reset_reader()
    search_reindex()


@pytest.fixture
def indexed(catalogue, settings, tmp_path):
    build_index(settings, tmp_path / "index")
    yield catalogue
    engine.reset_reader()


@pytest.fixture
def engine_calls(monkeypatch):
    """The searches the engine answered (not None), in order."""
    answered = []
    real = engine.search

    def spy(form, data=None, **options):
        result = real(form, data, **options)
        answered.append(result is not None)
        return result

    monkeypatch.setattr(engine, "search", spy)
    return answered


def every_page(**params) -> tuple[list[str], object]:
    """Ids of every page of a search, following its cursors; and the first page's result."""
    ids, cursor, first = [], None, None
    while True:
        result = run_search(valid_form(**params, **({"cursor": cursor} if cursor else {})))
        first = first or result
        ids += [str(listing.id) for listing in result.listings]
        cursor = result.next_cursor
        if not cursor:
            return ids, first


def facet_shape(result) -> tuple:
    def categories(facets):
        return [(facet.node.id, facet.count, categories(facet.children)) for facet in facets]

    attributes = [
        (facet.key, [(count.value, count.count, count.selected) for count in facet.counts])
        for facet in result.attribute_facets
    ]
    return categories(result.category_facets), attributes


PARITY = [
    {"q": "walnut"},
    {"q": "desk"},
    {"q": "desks"},
    {"q": "Desk", "category": "desks"},
    {"q": "chair", "category": "furniture"},
    {"q": '"walnut desk"'},
    {"q": '"desk lamp"'},
    {"q": "walnut OR pine"},
    {"q": "desk -walnut"},
    {"q": "-desk"},
    {"q": "chair OR -walnut"},
    {"q": "cafe"},
    {"q": "café"},
    {"q": "CAFÉ tablé"},
    {"q": "wal"},
    {"q": "the desk"},
    {"q": "the"},
    {"q": '"the"'},
    {"q": "kitchen chairs"},
    {"q": "hay"},
    {"q": "nothingmatcheszz"},
    {"q": "desk", "min_price": "100", "max_price": "600"},
    {"q": "desk", "min_price": "50", "currency": "EUR"},
    {"q": "desk", "pricing_type": "negotiable"},
    {"q": "desk", "sort": "newest"},
    {"q": "desk", "sort": "price_asc"},
    {"q": "desk", "sort": "price_desc", "currency": "EUR"},
    {"q": "walnut", "category": "furniture", "attr_material": "Walnut"},
    {"q": "desk", "category": "furniture", "attr_material": ["Oak", "Pine"]},
    {"category": "furniture", "attr_material": "Walnut"},
    {"category": "furniture", "attr_width_min": "45"},
    {"category": "furniture", "attr_width_min": "40", "attr_width_max": "47.5"},
    {"category": "desks", "attr_width_max": "47.4"},
    {"category": "furniture", "attr_shipping_included": "on"},
    {"category": "furniture", "attr_shipping_included": "on", "attr_material": "Oak", "sort": "price_asc"},
    {"category": "phones", "attr_storage_gb_min": "128", "attr_storage_gb_max": "256"},
    {"category": "phones", "attr_storage_gb_min": "128.5", "attr_colour": "Black"},
    {"category": "phones", "attr_storage_gb_min": "100000"},
    {"q": "desk", "near": "new-york", "radius_km": "100"},
    {"q": "desk", "near": "new-york", "radius_km": "30", "sort": "distance"},
    {"q": "desk OR chair", "lat": "41.5", "lng": "-87.7", "radius_km": "80", "sort": "newest"},
    {"category": "furniture", "attr_width_min": "35", "near": "chicago", "radius_km": "50"},
    {
        "q": "desk",
        "category": "furniture",
        "attr_width_min": "35",
        "max_price": "800",
        "near": "new-york",
        "radius_km": "100",
    },
]


@pytest.mark.parametrize("params", PARITY, ids=[repr(params) for params in PARITY])
def test_the_engine_finds_what_postgresql_finds(indexed, settings, engine_calls, params):
    settings.SEARCH_ENGINE = ""
    expected_ids, expected = every_page(**params)
    settings.SEARCH_ENGINE = "tantivy"
    found_ids, found = every_page(**params)
    assert engine_calls and all(engine_calls), "the engine answered every page"
    assert len(found_ids) == len(set(found_ids)), "no listing twice across pages"
    assert set(found_ids) == set(expected_ids)
    assert (found.total, found.total_capped) == (len(expected_ids), False)
    assert expected.total == len(expected_ids)
    assert facet_shape(found) == facet_shape(expected)
    assert found.did_you_mean == expected.did_you_mean


@pytest.mark.parametrize(
    "params",
    [
        {"q": "desk", "sort": "newest"},
        {"q": "desk", "sort": "price_asc"},
        {"q": "desk", "sort": "price_desc"},
        {"q": "desk", "near": "new-york", "radius_km": "100", "sort": "distance"},
    ],
)
def test_sorted_searches_keep_postgresqls_order(indexed, settings, params):
    settings.SEARCH_ENGINE = ""
    expected = [str(listing.id) for listing in run_search(valid_form(**params)).listings]
    settings.SEARCH_ENGINE = "tantivy"
    found = run_search(valid_form(**params))
    # Keys are distinct in the fixture (times, prices and places differ), so the order is one.
    key = {"newest": "published_at", "price_asc": "price_cents", "price_desc": "price_cents"}.get(
        params["sort"]
    )
    if key:
        values = [getattr(listing, key) for listing in found.listings]
        assert values == sorted(values, reverse=params["sort"] != "price_asc")
    else:
        distances = [listing.distance for listing in found.listings]
        assert distances == sorted(distances)
        assert all(distance <= 100_000 for distance in distances)
    assert [str(listing.id) for listing in found.listings] == expected


def test_best_match_puts_title_matches_before_description_only_matches(indexed, settings):
    found = run_search(valid_form(q="walnut")).listings
    in_title = ["walnut" in listing.title.lower() for listing in found]
    assert in_title == sorted(in_title, reverse=True)
    assert any(in_title) and not all(in_title)


def test_best_match_ranks_title_then_description_then_attribute_text(settings, tmp_path):
    category = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=FURNITURE_SCHEMA)
    bump_category_tree_version()
    now = timezone.now()
    ListingFactory(category=category, title="Bookcase", description="Solid.", attributes={"brand": "Walnut"})
    ListingFactory(
        category=category,
        title="Bookcase",
        description="Walnut walnut walnut veneer.",
        published_at=now - timedelta(days=1),
    )
    ListingFactory(category=category, title="Walnut shelf", published_at=now - timedelta(days=2))
    build_index(settings, tmp_path / "index")
    found = [(listing.title, listing.description) for listing in run_search(valid_form(q="walnut")).listings]
    assert [title for title, _ in found] == ["Walnut shelf", "Bookcase", "Bookcase"]
    assert found[1][1] == "Walnut walnut walnut veneer."


def test_engine_off_searches_postgresql_and_touches_no_index(catalogue, settings, monkeypatch):
    settings.SEARCH_ENGINE = ""
    monkeypatch.setattr(engine, "reader", lambda: pytest.fail("the index was opened"))
    result = run_search(valid_form(q="walnut"))
    assert result.total > 0 and result.total_capped is False


@pytest.mark.parametrize("damage", ["missing", "corrupt", "outdated"])
def test_a_missing_or_broken_index_falls_back_to_postgresql(catalogue, settings, tmp_path, caplog, damage):
    settings.SEARCH_ENGINE = ""
    expected = {str(listing.id) for listing in run_search(valid_form(q="desk")).listings}
    path = tmp_path / "index"
    if damage == "corrupt":
        build_index(settings, path)
        (path / "meta.json").write_text("{not json")
    if damage == "outdated":  # built by an older version: a field is missing
        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_text_field("id", stored=True, tokenizer_name="raw")
        path.mkdir()
        tantivy.Index(builder.build(), path=str(path))
    settings.SEARCH_ENGINE = "tantivy"
    settings.SEARCH_ENGINE_PATH = str(path)
    engine.reset_reader()
    with caplog.at_level(logging.WARNING, logger="listings.search.engine"):
        result = run_search(valid_form(q="desk"))
    assert {str(listing.id) for listing in result.listings} == expected
    assert "searching in PostgreSQL" in caplog.text
    engine.reset_reader()


@pytest.mark.parametrize(
    "params",
    [{}, {"category": "desks"}, {"min_price": "10"}, {"near": "new-york", "radius_km": "100"}],
)
def test_searches_the_engine_does_not_take_stay_on_postgresql(indexed, settings, monkeypatch, params):
    monkeypatch.setattr(engine, "reader", lambda: pytest.fail("the index was opened"))
    result = run_search(valid_form(**params))
    assert result.total_capped is False


def test_a_radius_too_wide_for_the_scan_goes_to_postgresql(indexed, settings, engine_calls):
    settings.SEARCH_ENGINE_RADIUS_SCAN = 3
    settings.SEARCH_ENGINE = ""
    expected, _ = every_page(q="desk", near="new-york", radius_km=100)
    settings.SEARCH_ENGINE = "tantivy"
    found, _ = every_page(q="desk", near="new-york", radius_km=100)
    assert engine_calls and not any(engine_calls)
    assert found == expected


def test_a_sync_commit_is_seen_by_the_next_search(indexed, settings):
    assert run_search(valid_form(q="harpsichord")).total == 0
    ListingFactory(category=indexed[0].category, title="Harpsichord", description="Old.")
    assert search_outbox_apply() == 1  # the job's commit
    assert [found.title for found in run_search(valid_form(q="harpsichord")).listings] == ["Harpsichord"]


def test_a_listing_gone_since_indexing_is_skipped(indexed, settings):
    before = run_search(valid_form(q="walnut", sort="newest"))
    Listing.objects.filter(pk=before.listings[0].pk).update(status=Listing.Status.ARCHIVED)
    after = run_search(valid_form(q="walnut", sort="newest"))
    assert [listing.pk for listing in after.listings] == [listing.pk for listing in before.listings[1:]]
    assert engine.documents_for([before.listings[0].pk]) == {}


def test_pages_join_without_gaps_or_repeats(indexed, settings):
    settings.SEARCH_ENGINE = ""
    expected, _ = every_page(q="desk OR chair OR walnut")
    settings.SEARCH_ENGINE = "tantivy"
    found, first = every_page(q="desk OR chair OR walnut")
    assert len(found) > 2 * query.PAGE_SIZE
    assert len(found) == len(set(found)) and set(found) == set(expected)
    assert signing.loads(first.next_cursor, salt=CURSOR_SALT) == {
        "sort": "relevance",
        "engine": True,
        "offset": 24,
    }


def test_the_depth_cap_answers_a_clear_form_error(indexed, settings):
    settings.SEARCH_ENGINE_MAX_OFFSET = 24
    first = run_search(valid_form(q="desk OR chair OR walnut"))
    form = make_form(q="desk OR chair OR walnut", cursor=first.next_cursor)
    assert not form.is_valid()
    assert "Only the first 24 results" in str(form.non_field_errors())


def test_an_engine_cursor_without_the_engine_is_refused_cleanly(indexed, settings, client):
    first = run_search(valid_form(q="desk OR chair OR walnut"))
    settings.SEARCH_ENGINE = ""
    form = make_form(q="desk OR chair OR walnut", cursor=first.next_cursor)
    assert not form.is_valid()
    assert "start the search again" in str(form.non_field_errors())
    response = client.get("/search/", {"q": "desk OR chair OR walnut", "cursor": first.next_cursor})
    assert response.status_code == 200
    assert b"start the search again" in response.content


def test_a_postgresql_cursor_is_continued_by_postgresql(indexed, settings, engine_calls):
    settings.SEARCH_ENGINE = ""
    first = run_search(valid_form(q="desk OR chair OR walnut"))
    second = run_search(valid_form(q="desk OR chair OR walnut", cursor=first.next_cursor))
    settings.SEARCH_ENGINE = "tantivy"
    # Issued while the engine was off (or down): its keyset only means something in SQL.
    again = run_search(valid_form(q="desk OR chair OR walnut", cursor=first.next_cursor))
    assert [listing.pk for listing in again.listings] == [listing.pk for listing in second.listings]
    assert engine_calls == [False]


@pytest.mark.parametrize("page_size", [5, 24])
def test_an_engine_page_costs_one_query_whatever_its_size(
    indexed, settings, monkeypatch, django_assert_num_queries, page_size
):
    monkeypatch.setattr(query, "PAGE_SIZE", page_size)
    for params in (
        {"q": "desk OR chair OR walnut"},
        {"q": "desk OR chair OR walnut", "near": "new-york", "radius_km": "2000", "sort": "distance"},
        {"category": "furniture", "attr_width_min": "30"},
    ):
        form = valid_form(**params)
        with django_assert_num_queries(1):  # the cards
            result = run_search(form)
        assert len(result.listings) == page_size < result.total
    # A search that fits on one page (12 results) also asks the spelling lexicon, as in SQL.
    form = valid_form(q="walnut", category="furniture", attr_material="Walnut")
    with django_assert_num_queries(1 if page_size < 12 else 2):
        result = run_search(form)
    assert result.total == 12


def test_equal_levels_are_ordered_newest_first(settings, tmp_path):
    category = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=FURNITURE_SCHEMA)
    bump_category_tree_version()
    now = timezone.now()
    for days, description in ((9, "Oak top."), (1, "Pine top."), (30, "Ash top."), (0, "Elm top.")):
        ListingFactory(
            category=category,
            title="Walnut desk",
            description=description,
            published_at=now - timedelta(days=days),
        )
    build_index(settings, tmp_path / "index")
    found = [listing.description for listing in run_search(valid_form(q="walnut desk")).listings]
    assert found == ["Elm top.", "Pine top.", "Oak top.", "Ash top."]


@pytest.mark.parametrize(
    "text",
    [
        "Running chairs for the kitchen, and desks",
        "Café crème, naïve façade; Ørsted",
        "The organised offices were being painted",
        "iPhone 15 Pro 256GB",
    ],
)
def test_the_analyzer_gives_postgresqls_lexemes(text, settings):
    from django.db import connection

    settings.SEARCH_ENGINE = "tantivy"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array(SELECT unnest(tsvector_to_array(to_tsvector('marketplace_search', %s))))", [text]
        )
        expected = sorted(cursor.fetchone()[0])
    assert sorted(set(engine._analyzers()["words"].analyze(text))) == expected


@pytest.mark.django_db(transaction=True)
def test_readers_on_threads_search_while_the_sync_job_commits(settings, tmp_path):
    """Searches on four threads (their own connections) while applies commit: none fails, none
    answers from PostgreSQL, and each commit is seen by the searches after it."""
    import threading

    from django.db import connections

    category = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=FURNITURE_SCHEMA)
    bump_category_tree_version()
    for n in range(30):
        ListingFactory(category=category, title=f"Walnut desk {n}")
    build_index(settings, tmp_path / "index")
    answered, errors, done = [], [], threading.Event()

    def reader():
        try:
            while not done.is_set():
                result = engine.search(valid_form(q="walnut"))
                answered.append(result.total if result is not None else None)
        except BaseException as error:  # noqa: BLE001 - reported on the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for n in range(5):
            ListingFactory(category=category, title=f"Walnut lamp {n}")
            assert search_outbox_apply() == 1
            assert engine.search(valid_form(q="walnut")).total == 31 + n
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert answered and None not in answered
    assert set(answered) <= set(range(30, 36))


@pytest.mark.parametrize(
    "params",
    [{"q": "desk", "category": "furniture"}, {"category": "furniture", "attr_width_min": "40"}],
)
def test_the_page_renders_the_same_facets_and_count(indexed, settings, client, params):
    import re

    settings.SEARCH_PAGE_CACHE_TTL = 0

    def sidebar_and_count(html: str) -> tuple[str, str]:
        aside = re.search(r'<aside class="sidebar">.*?</aside>', html, re.S).group(0)
        count = re.search(r'<p class="result-count".*?</p>', html, re.S).group(0)
        return aside, count

    settings.SEARCH_ENGINE = ""
    expected = sidebar_and_count(client.get("/search/", params).content.decode())
    settings.SEARCH_ENGINE = "tantivy"
    assert sidebar_and_count(client.get("/search/", params).content.decode()) == expected


@pytest.mark.parametrize(
    ("lat", "lng", "radius_km"), [(40.7, -74.0, 100), (60.0, 10.0, 250), (-33.9, 151.2, 25)]
)
def test_the_inner_box_lies_inside_the_circle(settings, lat, lng, radius_km):
    """What the radius search skips reading (``_inner_box``) is inside the circle: its corners
    and edges, measured as earth_distance measures."""
    import random
    import re

    import tantivy

    settings.SEARCH_ENGINE = "tantivy"
    inner = engine._inner_box(engine.build_schema(), (lat, lng), radius_km)
    assert inner is not None
    text = repr(inner)
    bounds = [float(value) for value in re.findall(r"type=F64, ([-0-9.e]+)\)", text)]
    assert len(bounds) == 4, text
    (lat_low, lat_high), (lng_low, lng_high) = sorted(bounds[:2]), sorted(bounds[2:])
    rng = random.Random(1)
    points = [(a, b) for a in (lat_low, lat_high) for b in (lng_low, lng_high)]
    points += [(rng.uniform(lat_low, lat_high), rng.uniform(lng_low, lng_high)) for _ in range(500)]
    assert all(engine.distance_m((lat, lng), a, b) <= radius_km * 1000 for a, b in points)
    assert isinstance(inner, tantivy.Query)
