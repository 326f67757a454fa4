"""Listing details typed against the category's schema on every write path, and the
``check_attributes`` command for the rows written around it (issue 11, item 13)."""

import pytest
from django.core.management import CommandError, call_command
from django.http import QueryDict
from django.urls import reverse

from listings.attribute_check import attribute_mismatch_fix, attribute_mismatches
from listings.categories import bump_category_tree_version
from listings.demo import seed_demo
from listings.models import Listing
from listings.search import SearchForm, run_search
from listings.services import attributes_normalise, listing_create, listing_update
from marketplace.errors import ErrorCode, ServiceError
from tests.factories import CategoryFactory, ListingFactory, SellerFactory
from tests.test_admin import admin_url, form_data

pytestmark = pytest.mark.django_db

SCHEMA = [
    {"key": "drawers", "label": "Drawers", "type": "number"},
    {"key": "material", "label": "Material", "type": "enum", "options": ["Walnut", "Oak"]},
    {"key": "adjustable", "label": "Height adjustable", "type": "boolean"},
    {"key": "brand", "label": "Brand", "type": "text"},
]


@pytest.fixture
def desks():
    category = CategoryFactory(name="Desks", slug="desks", attribute_schema=SCHEMA)
    bump_category_tree_version()
    return category


def drawers_between(low: str, high: str) -> set[str]:
    query = QueryDict(mutable=True)
    query.update({"category": "desks", "attr_drawers_min": low, "attr_drawers_max": high})
    form = SearchForm(query)
    assert form.is_valid(), form.errors
    return {listing.title for listing in run_search(form).listings}


def normalise(attributes, *, coerce=False):
    return attributes_normalise(schema=SCHEMA, attributes=attributes, category_name="Desks", coerce=coerce)


# --- The one function ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "typed"),
    [
        ({"drawers": "11"}, {"drawers": 11}),
        ({"drawers": " 10.5 "}, {"drawers": 10.5}),
        ({"drawers": "11.0"}, {"drawers": 11}),
        ({"drawers": "-2"}, {"drawers": -2}),
        ({"adjustable": "yes"}, {"adjustable": True}),
        ({"adjustable": "False"}, {"adjustable": False}),
        ({"adjustable": 1}, {"adjustable": True}),
        ({"material": " oak"}, {"material": "Oak"}),
        ({"brand": 42}, {"brand": "42"}),
        ({"brand": "  Acme  ", "drawers": ""}, {"brand": "Acme"}),
    ],
)
def test_coercion_types_unambiguous_spellings(given, typed):
    assert normalise(given, coerce=True) == typed


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"drawers": "eleven"}, "Drawers must be a number."),
        ({"drawers": "1e3"}, "Drawers must be a number."),
        ({"drawers": "NaN"}, "Drawers must be a number."),
        ({"drawers": True}, "Drawers must be a number."),
        ({"adjustable": "maybe"}, "Height adjustable must be yes or no."),
        ({"adjustable": 2}, "Height adjustable must be yes or no."),
        ({"material": "Teak"}, "Material must be one of Walnut, Oak."),
        ({"brand": True}, "Brand must be text of at most 200 characters."),
        ({"colour": "red"}, "Desks listings have no detail named colour."),
    ],
)
def test_coercion_refuses_the_rest(given, message):
    with pytest.raises(ServiceError) as refused:
        normalise(given, coerce=True)
    assert refused.value.message == message
    assert refused.value.code == ErrorCode.INVALID_ATTRIBUTES


def test_services_take_typed_values_only(desks):
    """The services' callers (the editor's form, scripts) send typed JSON: text is refused."""
    seller = SellerFactory()
    data = {"title": "Desk", "description": "A desk.", "category_id": desks.pk, "price_cents": 10_000}
    with pytest.raises(ServiceError, match="Drawers must be a number."):
        listing_create(seller=seller, data={**data, "attributes": {"drawers": "11"}})
    listing = listing_create(seller=seller, data={**data, "attributes": {"drawers": 11, "brand": " Acme "}})
    assert listing.attributes == {"drawers": 11, "brand": "Acme"}
    with pytest.raises(ServiceError, match="Drawers must be a number."):
        listing_update(listing=listing, actor=seller, data={"attributes": {"drawers": "12"}})
    listing.refresh_from_db()
    assert listing.attributes == {"drawers": 11, "brand": "Acme"}


def test_the_editor_stores_numbers_as_numbers(client, desks):
    seller = SellerFactory()
    client.force_login(seller)
    response = client.post(
        reverse("sell:listing_create"),
        {
            "title": "Walnut desk",
            "category": str(desks.pk),
            "rendered_for": str(desks.pk),
            "description": "Solid walnut.",
            "price": "450",
            "currency": "USD",
            "pricing_type": "fixed",
            "visibility": "public",
            "attr_drawers": "11",
            "attr_material": "Walnut",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    assert Listing.objects.get().attributes == {"drawers": 11, "material": "Walnut", "adjustable": False}


# --- The admin ---------------------------------------------------------------------------------
def test_the_admin_stores_a_number_typed_as_text_as_a_number(admin_client, desks):
    """The issue's input: a staff edit of a Desks listing to {"drawers": "11"}."""
    listing = ListingFactory(category=desks, title="Walnut desk", attributes={"drawers": 3})
    url = admin_url(Listing, "change", listing.pk)
    data = form_data(admin_client.get(url).context["adminform"].form)
    data["attributes"] = '{"drawers": "11"}'
    assert admin_client.post(url, data).status_code == 302
    assert Listing.objects.get(pk=listing.pk).attributes == {"drawers": 11}
    assert drawers_between("10.5", "11.5") == {"Walnut desk"}


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ('{"drawers": "eleven"}', "Drawers must be a number."),
        ('{"colour": "red"}', "Desks listings have no detail named colour."),
        ('["drawers"]', "Listing details must be a mapping of detail names to values."),
    ],
)
def test_the_admin_refuses_details_that_do_not_fit(admin_client, desks, attributes, message):
    listing = ListingFactory(category=desks, attributes={"drawers": 3})
    url = admin_url(Listing, "change", listing.pk)
    data = form_data(admin_client.get(url).context["adminform"].form)
    data["attributes"] = attributes
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Listing.objects.get(pk=listing.pk).attributes == {"drawers": 3}


def test_the_admin_checks_details_against_a_new_category(admin_client, desks):
    books = CategoryFactory(
        name="Books", slug="books", attribute_schema=[{"key": "author", "label": "Author", "type": "text"}]
    )
    bump_category_tree_version()
    listing = ListingFactory(category=desks, attributes={"drawers": 3})
    url = admin_url(Listing, "change", listing.pk)
    data = form_data(admin_client.get(url).context["adminform"].form)
    data["category"] = str(books.pk)
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "Books listings have no detail named drawers." in response.content.decode()
    assert Listing.objects.get(pk=listing.pk).category_id == desks.pk


# --- The demo loader ---------------------------------------------------------------------------
def test_the_demo_load_writes_only_details_that_match_their_schema():
    seed_demo(listings=60, images=False)
    assert Listing.objects.count() == 60
    assert list(attribute_mismatches()) == []


# --- check_attributes --------------------------------------------------------------------------
def mismatched_rows(desks):
    """Rows written around the check, as an old admin or a raw UPDATE could."""
    text_number = ListingFactory(category=desks, title="Text drawers", slug="text-drawers")
    unknown = ListingFactory(category=desks, title="Unknown detail", slug="unknown-detail")
    fine = ListingFactory(category=desks, title="Fine", slug="fine", attributes={"drawers": 11})
    Listing.objects.filter(pk=text_number.pk).update(attributes={"drawers": "11", "material": "oak"})
    Listing.objects.filter(pk=unknown.pk).update(attributes={"legs": 4})
    return text_number, unknown, fine


def test_check_lists_mismatches_and_changes_nothing(desks, capsys):
    text_number, unknown, _ = mismatched_rows(desks)
    assert drawers_between("10.5", "11.5") == {"Fine"}  # the text "11" drops out of the filter
    with pytest.raises(
        CommandError, match=r"2 listing\(s\) did not match .*\(1 fixable with --fix, 1 need an edit\)"
    ):
        call_command("check_attributes")
    out = capsys.readouterr().out
    assert "text-drawers" in out and "Drawers must be a number." in out
    assert "--fix stores {'drawers': 11, 'material': 'Oak'}" in out
    assert "unknown-detail" in out and "Desks listings have no detail named legs." in out
    assert "Needs an edit" in out
    assert Listing.objects.get(pk=text_number.pk).attributes == {"drawers": "11", "material": "oak"}


def test_check_fix_types_the_fixable_rows(desks, capsys, django_capture_on_commit_callbacks):
    text_number, unknown, _ = mismatched_rows(desks)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(CommandError, match="1 fixed"):
        call_command("check_attributes", "--fix")
    assert "Fixed" in capsys.readouterr().out
    assert Listing.objects.get(pk=text_number.pk).attributes == {"drawers": 11, "material": "Oak"}
    assert Listing.objects.get(pk=unknown.pk).attributes == {"legs": 4}  # left to a person
    assert drawers_between("10.5", "11.5") == {"Fine", "Text drawers"}
    Listing.objects.filter(pk=unknown.pk).update(attributes={"drawers": 4})
    call_command("check_attributes")
    assert "Every listing's details match" in capsys.readouterr().out


def test_fix_does_not_overwrite_a_concurrent_edit(desks):
    text_number, _, _ = mismatched_rows(desks)
    mismatch = next(m for m in attribute_mismatches() if m.listing_id == text_number.pk)
    Listing.objects.filter(pk=text_number.pk).update(attributes={"drawers": 2})
    assert attribute_mismatch_fix(mismatch) is False
    assert Listing.objects.get(pk=text_number.pk).attributes == {"drawers": 2}
