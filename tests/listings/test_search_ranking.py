"""Best match (listings.search.ranking): the order, and what ranking a bounded candidate set
guarantees against ranking every match."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.http import QueryDict
from django.utils import timezone

from listings.categories import bump_category_tree_version
from listings.search import SearchForm, keyword_query, run_search
from listings.search.filters import filtered_listings
from listings.search.ranking import Matches, TitleVector, exhaustive
from tests.factories import CategoryFactory, ListingFactory

pytestmark = pytest.mark.django_db

SCHEMA = [
    {"key": "brand", "label": "Brand", "type": "text"},
    {"key": "width", "label": "Width", "type": "number"},
]
# A fixed set of queries: single words, two words, a phrase, OR, negation, a prefix.
QUERIES = [
    "walnut",
    "desk",
    "walnut desk",
    '"oak desk"',
    "walnut OR oak",
    "desk -chair",
    "lamp -walnut",
    "wal",
    "lamp",
]


def make_form(**params) -> SearchForm:
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query[key] = str(value)
    form = SearchForm(query)
    assert form.is_valid(), form.errors
    return form


def all_pages(**params) -> list[str]:
    ids, cursor = [], None
    while True:
        result = run_search(make_form(**params, **({"cursor": cursor} if cursor else {})))
        ids += [str(listing.id) for listing in result.listings]
        cursor = result.next_cursor
        if not cursor:
            return ids


def reference(q: str) -> list[str]:
    form = make_form(q=q)
    return [
        str(pk)
        for pk in exhaustive(filtered_listings(form.cleaned_data, form), keyword_query(q)).values_list(
            "id", flat=True
        )
    ]


@pytest.fixture
def catalogue():
    category = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=SCHEMA)
    bump_category_tree_version()
    now = timezone.now()
    words = ["walnut", "oak", "desk", "lamp", "chair", "walnut desk", "oak desk", "desk lamp"]
    listings = []
    for index in range(60):
        title_words = words[index % len(words)]
        description = " ".join(words[(index * 3 + k) % len(words)] for k in range(index % 4))
        listings.append(
            ListingFactory(
                category=category,
                title=f"{title_words.capitalize()} {index}",
                description=description or "Solid wood.",
                attributes={"brand": words[(index * 5) % len(words)].split()[0].capitalize(), "width": index},
                published_at=now - timedelta(hours=index * 7 % 50, minutes=index),
            )
        )
    return listings


def test_best_match_orders_title_then_description_then_attribute_text():
    category = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=SCHEMA)
    bump_category_tree_version()
    now = timezone.now()
    # The newest has the word only in its details; the oldest in its title.
    ListingFactory(
        category=category,
        title="Bookcase",
        description="Solid.",
        attributes={"brand": "Walnut"},
        published_at=now,
    )
    ListingFactory(
        category=category,
        title="Bookcase",
        description="Walnut walnut walnut veneer.",
        published_at=now - timedelta(days=1),
    )
    ListingFactory(
        category=category, title="Walnut shelf", description="Solid.", published_at=now - timedelta(days=2)
    )
    titles = [(listing.title, listing.description) for listing in run_search(make_form(q="walnut")).listings]
    assert titles == [
        ("Walnut shelf", "Solid."),
        ("Bookcase", "Walnut walnut walnut veneer."),
        ("Bookcase", "Solid."),
    ]


def test_recency_breaks_ties_only():
    category = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=SCHEMA)
    bump_category_tree_version()
    now = timezone.now()
    ListingFactory(
        category=category,
        title="Walnut desk",
        description="Walnut top.",
        published_at=now - timedelta(days=9),
    )
    ListingFactory(
        category=category, title="Walnut desk", description="Oak top.", published_at=now - timedelta(days=1)
    )
    ListingFactory(category=category, title="Walnut desk", description="Pine top.", published_at=now)
    found = [
        (listing.description, listing.published_at) for listing in run_search(make_form(q="walnut")).listings
    ]
    # The one that says walnut twice ranks first although it is the oldest; equal ranks: newest first.
    assert [description for description, _ in found] == ["Walnut top.", "Pine top.", "Oak top."]


@pytest.mark.parametrize("q", QUERIES)
def test_below_the_count_cap_every_match_is_ranked_exactly(catalogue, q, settings):
    settings.SEARCH_RANK_CANDIDATES = 4  # not used: the count (under 1,000) is exact
    expected = reference(q)
    assert expected, q
    assert all_pages(q=q) == expected


@pytest.mark.parametrize("q", QUERIES)
def test_top_results_equal_exhaustive_ranking_when_matches_fit_the_candidates(catalogue, q, monkeypatch):
    monkeypatch.setattr("listings.search.facets.COUNT_CAP", 5)  # counts say "5+": candidates
    expected = reference(q)
    assert len(expected) <= 200  # SEARCH_RANK_CANDIDATES: every match is a candidate
    assert all_pages(q=q) == expected


@pytest.mark.parametrize("q", QUERIES)
def test_few_candidates_rank_exactly_within_them_and_the_rest_follow_newest_first(
    catalogue, q, settings, monkeypatch
):
    # Past the count cap ("5+") best match ranks candidates: the 4 newest title matches and
    # the 4 newest matches.
    monkeypatch.setattr("listings.search.facets.COUNT_CAP", 5)
    settings.SEARCH_RANK_CANDIDATES = 4
    expected_all = reference(q)
    form = make_form(q=q)
    matching = filtered_listings(form.cleaned_data, form)
    newest = list(
        matching.annotate(title_match=Matches(TitleVector(F("title")), keyword_query(q)))
        .order_by("-published_at", "-id")
        .values_list("id", "title_match")
    )
    # The candidates: the 4 newest title matches and the 4 newest matches.
    title_ids = [pk for pk, title_match in newest if title_match]
    candidates = {str(pk) for pk in title_ids[:4]} | {str(pk) for pk, _ in newest[:4]}
    assert len(newest) > len(candidates)  # a tail exists
    got = all_pages(q=q)
    head, rest = got[: len(candidates)], got[len(candidates) :]
    # Zone 0: the exhaustive order restricted to the candidates.
    assert head == [pk for pk in expected_all if pk in candidates]
    # Zone 1: every other match, newest first; nothing lost, nothing twice.
    assert rest == [str(pk) for pk, _ in newest if str(pk) not in candidates]
    assert sorted(got) == sorted(expected_all)


def test_a_cursor_from_before_best_match_keys_is_refused(catalogue):
    from django.core import signing

    from listings.search import CURSOR_SALT

    old = signing.dumps({"sort": "relevance", "value": 0.5, "id": str(catalogue[0].id)}, salt=CURSOR_SALT)
    query = QueryDict(mutable=True)
    query.update({"q": "walnut", "cursor": old})
    form = SearchForm(query)
    assert not form.is_valid()
    assert "no longer valid" in str(form.errors)


def test_page_of_best_match_is_a_fixed_number_of_queries(catalogue, django_assert_num_queries):
    from django.core.cache import cache

    run_search(make_form(q="desk"))  # the category tree, cached
    for cursor in (None, run_search(make_form(q="desk")).next_cursor):
        cache.delete_pattern("*search-facets*")
        params = {"q": "desk", **({"cursor": cursor} if cursor else {})}
        # The counts and facets (one query without a category filter), then the page.
        with django_assert_num_queries(2):
            result = run_search(make_form(**params))
        assert result.listings
