"""What the keyword box understands: accents ignored both ways (issue 11, item 10), spelling
help from the lexicon of indexed words (item 11), and OR binding tighter than the implicit
AND (item 12)."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.sql import Query
from django.http import QueryDict
from django.urls import reverse

from accounts.models import AccountStatus
from listings.categories import bump_category_tree_version
from listings.models import Listing, ListingStatus, ListingVisibility
from listings.search import PAGE_SIZE, SearchForm, run_search
from listings.search.keywords import Term, keyword_query, parse_keywords, rewrite_words, unparse
from listings.search.lexicon import lexicon_refresh, spelling_corrections
from tests.factories import CategoryFactory, ListingFactory

pytestmark = pytest.mark.django_db

SCHEMA = [
    {"key": "brand", "label": "Brand", "type": "text"},
    {"key": "material", "label": "Material", "type": "enum", "options": ["Crème", "Oak"]},
]


@pytest.fixture
def category():
    node = CategoryFactory(name="Things", slug="things", attribute_schema=SCHEMA)
    bump_category_tree_version()
    return node


def run(**params):
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query[key] = str(value)
    form = SearchForm(query)
    assert form.is_valid(), form.errors
    return run_search(form)


def titles(**params) -> set[str]:
    return {listing.title for listing in run(**params).listings}


# --- Item 10: accents -------------------------------------------------------------------
def test_accents_are_ignored_both_ways_in_titles(category):
    ListingFactory(category=category, title="Café bistro chair")
    ListingFactory(category=category, title="Cafe counter stool")
    ListingFactory(category=category, title="Crème brûlée torch")
    assert titles(q="cafe") == {"Café bistro chair", "Cafe counter stool"}
    assert titles(q="café") == {"Café bistro chair", "Cafe counter stool"}
    assert titles(q="CAFÉ") == {"Café bistro chair", "Cafe counter stool"}
    assert titles(q="creme brulee") == {"Crème brûlée torch"}
    assert titles(q="crème brûlée") == {"Crème brûlée torch"}


def test_accents_are_ignored_in_descriptions_text_attributes_phrases_and_prefixes(category):
    ListingFactory(category=category, title="Lamp", description="Made in a São Paulo atelier.")
    ListingFactory(category=category, title="Vase", attributes={"brand": "Société Générale"})
    ListingFactory(category=category, title="Bowl", attributes={"material": "Crème"})
    ListingFactory(category=category, title="Crêpe pan")
    assert titles(q="sao paulo") == {"Lamp"}
    assert titles(q='"são paulo"') == {"Lamp"}
    assert titles(q="societe") == {"Vase"}
    assert titles(q="generale") == {"Vase"}
    assert titles(q="creme") == {"Bowl"}
    # The last word as a prefix, accents folded on both sides.
    assert titles(q="crep") == {"Crêpe pan"}
    assert titles(q="crêp") == {"Crêpe pan"}
    assert titles(q="pan -crepe") == set()


def test_existing_rows_and_edits_get_the_accent_folding_vector(category):
    listing = ListingFactory(category=category, title="Plain chair")
    Listing.objects.filter(pk=listing.pk).update(title="Fauteuil Élysée")
    assert titles(q="elysee") == {"Fauteuil Élysée"}
    # What migration 0007 ran for existing rows, and its formula is the trigger's.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT search_vector = listings_search_document(title, description, attributes) "
            "FROM listings_listing WHERE id = %s",
            [listing.pk],
        )
        assert cursor.fetchone()[0] is True


# --- Item 12: OR binds tighter than AND ---------------------------------------------------
def test_or_binds_tighter_than_the_implicit_and(category):
    ListingFactory(category=category, title="Walnut chair")
    ListingFactory(category=category, title="Walnut stool")
    ListingFactory(category=category, title="Fabric bar stool")
    ListingFactory(category=category, title="Oak chair")
    assert titles(q="walnut chair OR stool") == {"Walnut chair", "Walnut stool"}
    assert titles(q="chair OR stool walnut") == {"Walnut chair", "Walnut stool"}
    assert titles(q="walnut OR oak chair") == {"Walnut chair", "Oak chair"}
    assert titles(q="walnut OR fabric stool") == {"Walnut stool", "Fabric bar stool"}
    assert titles(q="walnut OR oak chair OR stool -bar") == {"Walnut chair", "Walnut stool", "Oak chair"}


def test_or_with_phrases_negations_and_the_trailing_prefix(category):
    ListingFactory(category=category, title="Mid century walnut desk")
    ListingFactory(category=category, title="Century old oak desk")
    ListingFactory(category=category, title="Walnut chair", description="Old but sturdy.")
    assert titles(q='"mid century" OR oak desk') == {"Mid century walnut desk", "Century old oak desk"}
    assert titles(q='desk OR chair -"mid century"') == {"Century old oak desk", "Walnut chair"}
    assert titles(q="-oak desk OR chair") == {"Mid century walnut desk", "Walnut chair"}
    assert titles(q="old walnu") == {"Walnut chair"}  # the last word as a prefix, ANDed
    assert titles(q="desk OR chair walnu") == {"Mid century walnut desk", "Walnut chair"}
    assert titles(q="chair OR") == {"Walnut chair"}  # a dangling OR is ignored
    assert titles(q="OR") == set()


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("a OR b c", [["a", "b"], ["c"]]),
        ("a b OR c d", [["a"], ["b", "c"], ["d"]]),
        ("a OR b OR c", [["a", "b", "c"]]),
        ('"x y" OR -z w', [['"x y"', "-z"], ["w"]]),
        ('-"x y" or w', [['-"x y"', "w"]]),
        ("OR a OR", [["a"]]),
        ('a "unclosed phrase', [["a"], ['"unclosed phrase"']]),
        ("- a", [["-"], ["a"]]),
    ],
)
def test_parse_keywords(text, groups):
    parsed = parse_keywords(text)
    assert [[str(term) for term in group] for group in parsed] == groups
    assert parse_keywords(unparse(parsed)) == parsed


def tsquery(text: str) -> str:
    """The tsquery that ``keyword_query(text)`` builds, as PostgreSQL prints it."""
    query = Query(Listing)
    sql, params = (
        keyword_query(text).resolve_expression(query).as_sql(query.get_compiler("default"), connection)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ({sql})::text", params)  # noqa: S608 - compiled expression
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("walnut chair OR stool", "'walnut' & ( 'chair' | 'stool' )"),
        ("a1 b2 OR c3 d4", "'a1' & ( 'b2' | 'c3' ) & ( 'd4' | 'd4':* )"),
        ('"mid century" OR oak -pine', "( 'mid' <-> 'centuri' | 'oak' ) & !'pine'"),
        ("Café OR crème brûl", "( 'cafe' | 'creme' ) & ( 'brul' | 'brul':* )"),
    ],
)
def test_the_query_is_parenthesised_as_parsed(text, expected):
    assert tsquery(text) == expected


def test_rewrite_words_keeps_phrases_and_negations():
    groups = parse_keywords('wallnut "wallnut desk" -wallnut OR Wallnut')
    rewritten = rewrite_words(groups, {"wallnut": "walnut"})
    assert unparse(rewritten) == 'walnut "wallnut desk" -wallnut OR walnut'
    assert rewritten[0][0] == Term("walnut")


# --- Item 11: spelling --------------------------------------------------------------------
def lexicon() -> dict[str, tuple[str | None, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT word, stem, ndoc FROM listings_search_word")
        return {word: (stem, ndoc) for word, stem, ndoc in cursor.fetchall()}


@pytest.fixture
def desks(category):
    ListingFactory(category=category, title="Walnut writing desk", description="Solid wood.")
    ListingFactory(category=category, title="Oak bookshelf", description="Five shelves.")
    ListingFactory(category=category, title="Café table", description="Marble top.")
    lexicon_refresh()
    return category


def test_lexicon_holds_the_words_of_searchable_listings_only(category):
    ListingFactory(category=category, title="Walnut desk", attributes={"brand": "Ikéa"})
    ListingFactory(category=category, title="Secretdraft plan", status=ListingStatus.DRAFT)
    ListingFactory(category=category, title="Privateword lamp", visibility=ListingVisibility.PRIVATE)
    banned = ListingFactory(category=category, title="Bannedword lamp")
    banned.seller.account_status = AccountStatus.BANNED
    banned.seller.save(update_fields=["account_status"])
    assert lexicon_refresh() == len(lexicon())
    words = lexicon()
    assert {"walnut", "desk", "ikea", "fine", "item", "condition", "good"} <= set(words)
    assert not {"secretdraft", "privateword", "bannedword"} & set(words)
    assert words["walnut"] == ("walnut", 1)
    assert "lamp" not in words  # only in the private listing and the banned seller's
    assert words["condition"] == ("condit", 1)  # the factories' description, one searchable listing
    # A second run keeps the rows and drops the words that are gone.
    Listing.objects.filter(title="Walnut desk").update(title="Teak desk")
    lexicon_refresh()
    assert "teak" in lexicon() and "walnut" not in lexicon()


def test_a_typo_finds_the_corrected_words_and_says_so(desks):
    result = run(q="wallnut")
    assert [listing.title for listing in result.listings] == ["Walnut writing desk"]
    assert result.did_you_mean == "walnut"
    assert result.corrected_from == "wallnut"
    assert result.total == 1
    # Several words, only the unknown one is corrected; accents folded in the lexicon.
    result = run(q="wallnut writting")
    assert result.did_you_mean == "walnut writing" and len(result.listings) == 1
    # An accented word is known unaccented; only the typo changes.
    assert run(q="cafè tabel").did_you_mean == "cafè table"
    assert run(q="marbel").did_you_mean == "marble"


def test_a_correction_that_finds_nothing_either_is_only_offered(desks):
    result = run(q="wallnut bookshelff")  # both known, never in one listing
    assert result.listings == [] and result.corrected_from is None
    assert result.did_you_mean == "walnut bookshelf"


def test_did_you_mean_without_correcting_when_the_words_find_something(desks):
    ListingFactory(category=desks, title="Wallnut shaped clock")  # found as typed...
    result = run(q="wallnut")
    assert {listing.title for listing in result.listings} == {"Wallnut shaped clock"}
    assert result.corrected_from is None
    # ...and not in the lexicon yet (a listing since the last refresh): a suggestion.
    assert result.did_you_mean == "walnut"
    lexicon_refresh()
    assert run(q="wallnut").did_you_mean is None


def test_the_corrected_results_page_on(desks):
    for number in range(PAGE_SIZE + 2):
        ListingFactory(category=desks, title=f"Walnut stool {number}")
    lexicon_refresh()
    first = run(q="wallnut stool")
    assert first.corrected_from == "wallnut stool" and first.next_cursor
    second = run(q="wallnut stool", cursor=first.next_cursor)  # the link keeps the words as typed
    assert second.corrected_from == "wallnut stool"
    seen = [listing.pk for listing in first.listings + second.listings]
    assert len(seen) == len(set(seen)) == PAGE_SIZE + 2


def test_exact_asks_for_the_words_as_typed(desks):
    result = run(q="wallnut", exact="1")
    assert result.listings == [] and result.corrected_from is None
    assert result.did_you_mean == "walnut"


@pytest.mark.parametrize(
    "q",
    [
        "walnut",  # known
        "desks",  # known by its stem
        "walnu",  # the last word, a prefix of a known word
        "zzqxj",  # nothing close
        '"wallnut desk"',  # a phrase is kept as typed
        "desk -wallnut",  # so is a negation
        "ab",  # too short to correct
        "wallnut2",  # digits: a model number, not a typo
    ],
)
def test_no_suggestion(desks, q):
    assert run(q=q).did_you_mean is None


def test_corrections_in_or_groups(desks):
    result = run(q="chiar OR bookshelff")
    assert result.did_you_mean == "chiar OR bookshelf"
    assert [listing.title for listing in result.listings] == ["Oak bookshelf"]


def test_spelling_corrections_is_one_query(desks, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert spelling_corrections(parse_keywords("wallnut writting bookshelff")) == {
            "wallnut": "walnut",
            "writting": "writing",
            "bookshelff": "bookshelf",
        }
    with django_assert_num_queries(0):
        assert spelling_corrections(parse_keywords('"phrase only" -no')) == {}


def test_search_page_offers_and_applies_corrections(client, desks, django_assert_max_num_queries):
    url = reverse("listings:search")
    client.get(url)  # warms the category tree cache
    # typed search (page, total/category facet) + lexicon + corrected search (page, total)
    with django_assert_max_num_queries(5):
        response = client.get(url, {"q": "wallnut"})
    html = response.content.decode()
    assert "Walnut writing desk" in html
    assert "Showing results for" in html and "search instead for" in html
    assert "q=walnut" in html and "q=wallnut&amp;exact=1" in html
    response = client.get(url, {"q": "wallnut", "exact": "1"})
    html = response.content.decode()
    assert "Did you mean" in html and "q=walnut" in html and "Walnut writing desk" not in html


def test_refresh_command(desks, capsys):
    call_command("refresh_search_lexicon")
    assert "Search lexicon refreshed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "q",
    [
        "-",
        '"',
        '""',
        '-"',
        "OR OR",
        "!!! & | :* ( )",
        "a:* & b",
        "'quoted' \\ back\\slash",
        "日本 家具",
        "x² ǅungla",
        "-OR",
        '"a OR b"',
        "a" * 150,
        " ".join(["a"] * 60),
    ],
)
def test_any_keywords_are_a_query_never_an_error(category, q):
    ListingFactory(category=category, title="Walnut chair")
    run(q=q)  # no exception: the words go to websearch_to_tsquery, the prefix only when \w+
