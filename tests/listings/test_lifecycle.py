"""The listing lifecycle: every transition legal and illegal (one table decides), timestamps,
who may act, and the POST-only buttons (permissions, CSRF, redirects, messages)."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus
from listings.categories import bump_category_tree_version
from listings.lifecycle import LISTING_TRANSITIONS, listing_owner_actions, listing_transition_check
from listings.models import Listing
from listings.services import (
    listing_archive,
    listing_delete,
    listing_mark_sold,
    listing_publish,
    listing_unpublish,
)
from marketplace.errors import ServiceError
from payments.models import Transaction
from tests.factories import CategoryFactory, ListingFactory, SellerFactory, TransactionFactory, UserFactory

pytestmark = pytest.mark.django_db

STATUSES = ("draft", "active", "reserved", "sold", "archived")
SCHEMA = [
    {"key": "material", "label": "Material", "type": "enum", "options": ["Walnut", "Oak"], "required": True},
    {"key": "width", "label": "Width", "type": "number", "unit": "in"},
]
SERVICES = {
    "publish": listing_publish,
    "unpublish": listing_unpublish,
    "mark_sold": listing_mark_sold,
    "archive": listing_archive,
    "delete": listing_delete,
}
# (status before, action) -> status after; every other pair is refused.
LEGAL = {
    ("draft", "publish"): "active",
    ("active", "unpublish"): "draft",
    ("active", "mark_sold"): "sold",
    ("draft", "archive"): "archived",
    ("active", "archive"): "archived",
    ("draft", "delete"): None,  # gone
    ("active", "delete"): "archived",  # published before: archived instead
}
REFUSALS = {
    ("draft", "unpublish"): "This listing is not published.",
    ("draft", "mark_sold"): "This listing is a draft, so it cannot be marked as sold before it is published.",
    ("active", "publish"): "This listing is already published.",
    ("reserved", "publish"): "A purchase of this listing is in progress, so it cannot be published now.",
    ("reserved", "unpublish"): "A purchase of this listing is in progress, so it cannot be unpublished now.",
    (
        "reserved",
        "mark_sold",
    ): "A purchase of this listing is in progress, so it cannot be marked as sold now.",
    ("reserved", "archive"): "A purchase of this listing is in progress, so it cannot be archived now.",
    ("reserved", "delete"): "A purchase of this listing is in progress, so it cannot be deleted now.",
    ("sold", "publish"): "This listing is sold, so it can no longer be published.",
    ("sold", "unpublish"): "This listing is sold, so it can no longer be unpublished.",
    ("sold", "mark_sold"): "This listing is already marked as sold.",
    ("sold", "archive"): "This listing is sold, so it can no longer be archived.",
    ("sold", "delete"): "This listing is sold, so it can no longer be deleted.",
    ("archived", "publish"): "This listing is archived, so it can no longer be published.",
    ("archived", "unpublish"): "This listing is archived, so it can no longer be unpublished.",
    ("archived", "mark_sold"): "This listing is archived, so it can no longer be marked as sold.",
    ("archived", "archive"): "This listing is already archived.",
    ("archived", "delete"): (
        "Only drafts can be deleted. This listing is archived already: it is off the site and kept in "
        "your records."
    ),
}
ACTION_URLS = {
    "publish": "sell:listing_publish",
    "unpublish": "sell:listing_unpublish",
    "mark_sold": "sell:listing_mark_sold",
    "archive": "sell:listing_archive",
    "delete": "sell:listing_delete",
}


@pytest.fixture
def category():
    category = CategoryFactory(name="Desks", slug="desks", attribute_schema=SCHEMA)
    bump_category_tree_version()
    return category


@pytest.fixture
def seller():
    return SellerFactory()


def listing_in(status: str, seller, category, **fields) -> Listing:
    published = None if status == "draft" else timezone.now() - timedelta(days=3)
    fields.setdefault("published_at", published)
    fields.setdefault("sold_at", timezone.now() - timedelta(days=1) if status == "sold" else None)
    fields.setdefault("attributes", {"material": "Oak", "width": 30})
    return ListingFactory(seller=seller, category=category, status=status, **fields)


def test_every_pair_is_either_legal_or_refused_with_a_message():
    owner_actions = {name for name, move in LISTING_TRANSITIONS.items() if move.owner}
    assert owner_actions == set(SERVICES)
    assert set(LEGAL) | set(REFUSALS) == {(status, action) for status in STATUSES for action in SERVICES}
    assert not set(LEGAL) & set(REFUSALS)


@pytest.mark.parametrize(("status", "action"), sorted(LEGAL))
def test_legal_transitions(seller, category, status, action, django_capture_on_commit_callbacks):
    listing = listing_in(status, seller, category)
    before = Listing.objects.get(pk=listing.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        SERVICES[action](listing=listing, actor=seller)
    assert len(callbacks) == 1  # the page cache is retired on commit
    expected = LEGAL[(status, action)]
    if expected is None:
        assert not Listing.objects.filter(pk=listing.pk).exists()
        return
    after = Listing.objects.get(pk=listing.pk)
    assert after.status == expected
    if action == "publish":
        assert after.published_at is not None
        assert after.published_at >= before.updated_at - timedelta(seconds=5)
    else:
        assert after.published_at == before.published_at  # never cleared
    if action == "mark_sold":
        assert after.sold_at is not None and after.sold_at > after.published_at
    else:
        assert after.sold_at == before.sold_at
    assert after.slug == before.slug


@pytest.mark.parametrize(("status", "action"), sorted(REFUSALS))
def test_illegal_transitions_are_refused_and_change_nothing(seller, category, status, action):
    listing = listing_in(status, seller, category)
    before = Listing.objects.values().get(pk=listing.pk)
    with pytest.raises(ServiceError) as refused:
        SERVICES[action](listing=listing, actor=seller)
    assert refused.value.message == REFUSALS[(status, action)]
    assert refused.value.code == "invalid_transition"
    assert Listing.objects.values().get(pk=listing.pk) == before


def test_the_purchase_flow_moves_are_in_the_same_table(seller, category):
    reserved = listing_in("reserved", seller, category)
    assert listing_transition_check(reserved, "complete_sale").target == "sold"
    assert listing_transition_check(reserved, "release").target == "active"
    assert listing_transition_check(listing_in("active", seller, category), "reserve").target == "reserved"
    with pytest.raises(ServiceError):
        listing_transition_check(listing_in("draft", seller, category), "reserve")


@pytest.mark.parametrize(
    ("status", "actions"),
    [
        ("draft", ["publish", "archive", "delete"]),
        ("active", ["unpublish", "mark_sold", "archive"]),
        ("reserved", []),
        ("sold", []),
        ("archived", []),
    ],
)
def test_the_owner_sees_the_buttons_of_legal_moves(seller, category, status, actions):
    assert listing_owner_actions(listing_in(status, seller, category)) == actions


# --- Timestamps and deletion -------------------------------------------------------------
def test_publishing_again_keeps_the_first_publication_time(seller, category):
    listing = listing_publish(listing=listing_in("draft", seller, category), actor=seller)
    first = listing.published_at
    listing = listing_unpublish(listing=listing, actor=seller)
    assert listing.status == "draft" and listing.published_at == first
    listing = listing_publish(listing=listing, actor=seller)
    assert listing.published_at == first


def test_a_draft_that_was_published_before_is_archived_not_deleted(seller, category):
    listing = listing_in("draft", seller, category, published_at=timezone.now() - timedelta(days=9))
    assert "delete" not in listing_owner_actions(listing)
    assert listing_delete(listing=listing, actor=seller) == "archived"
    assert Listing.objects.get(pk=listing.pk).status == "archived"


def test_a_draft_something_refers_to_is_archived_not_deleted(seller, category):
    listing = listing_in("draft", seller, category)
    TransactionFactory(listing=listing, status=Transaction.Status.CANCELLED, completed_at=None)
    assert listing_delete(listing=listing, actor=seller) == "archived"
    assert Listing.objects.get(pk=listing.pk).status == "archived"


def test_a_never_published_draft_is_deleted(seller, category):
    listing = listing_in("draft", seller, category)
    assert listing_delete(listing=listing, actor=seller) == "deleted"
    assert not Listing.objects.filter(pk=listing.pk).exists()


# --- Who may act -------------------------------------------------------------------------
@pytest.mark.parametrize("action", sorted(SERVICES))
def test_only_the_owner_may_act(seller, category, action):
    status = "active" if action in ("unpublish", "mark_sold") else "draft"
    listing = listing_in(status, seller, category)
    for other in (SellerFactory(), UserFactory(is_staff=True, is_superuser=True)):
        with pytest.raises(ServiceError) as refused:
            SERVICES[action](listing=listing, actor=other)
        assert refused.value.code == "not_found"
    assert Listing.objects.get(pk=listing.pk).status == status


@pytest.mark.parametrize("action", sorted(SERVICES))
def test_a_suspended_seller_can_change_nothing(seller, category, action):
    status = "active" if action in ("unpublish", "mark_sold") else "draft"
    listing = listing_in(status, seller, category)
    seller.account_status = AccountStatus.SUSPENDED
    seller.save(update_fields=["account_status"])
    with pytest.raises(ServiceError) as refused:
        SERVICES[action](listing=listing, actor=seller)
    assert refused.value.code == "account_suspended"
    assert Listing.objects.get(pk=listing.pk).status == status


@pytest.mark.parametrize(
    ("seller_fields", "code", "message_start"),
    [
        ({"email_verified_at": None}, "email_unverified", "Verify your email address before publishing"),
        ({"is_seller": False}, "not_seller", "Set up your seller profile before publishing"),
        ({"account_status": AccountStatus.SUSPENDED}, "account_suspended", "Your account is suspended"),
    ],
)
def test_publishing_needs_a_verified_active_seller(category, seller_fields, code, message_start):
    seller = SellerFactory(**seller_fields)
    listing = listing_in("draft", seller, category)
    with pytest.raises(ServiceError) as refused:
        listing_publish(listing=listing, actor=seller)
    assert refused.value.code == code
    assert refused.value.message.startswith(message_start)
    assert Listing.objects.get(pk=listing.pk).status == "draft"


def test_a_fixed_price_listing_without_a_price_cannot_be_published(seller, category):
    listing = listing_in("draft", seller, category, price_cents=None, pricing_type="fixed")
    with pytest.raises(ServiceError) as refused:
        listing_publish(listing=listing, actor=seller)
    assert refused.value.message.startswith("A fixed-price listing needs a price")
    negotiable = listing_in("draft", seller, category, price_cents=None, pricing_type="negotiable")
    assert listing_publish(listing=negotiable, actor=seller).status == "active"


def test_publishing_checks_the_details_against_the_current_schema(seller, category):
    listing = listing_in(
        "draft", seller, category, attributes={"width": 30}
    )  # before "material" was required
    with pytest.raises(ServiceError) as refused:
        listing_publish(listing=listing, actor=seller)
    assert refused.value.message == "Edit the listing before publishing: Material is required."
    assert Listing.objects.get(pk=listing.pk).status == "draft"


# --- The buttons -------------------------------------------------------------------------
def action_url(action: str, listing: Listing) -> str:
    return reverse(ACTION_URLS[action], args=[listing.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    ("status", "action", "after", "message"),
    [
        ("draft", "publish", "active", "“Desk” is published."),
        ("active", "unpublish", "draft", "“Desk” is unpublished: it is a draft again."),
        ("active", "mark_sold", "sold", "“Desk” is marked as sold."),
        ("active", "archive", "archived", "“Desk” is archived: it is off the site for good."),
    ],
)
def test_buttons_act_and_go_back_with_a_message(client, seller, category, status, action, after, message):
    listing = listing_in(status, seller, category, title="Desk")
    client.force_login(seller)
    response = client.post(action_url(action, listing), {"next": "/sell/"})
    assert response.status_code == 302
    assert response["Location"] == "/sell/"
    assert messages_of(response) == [message]
    assert Listing.objects.get(pk=listing.pk).status == after


def test_a_refused_button_goes_back_with_the_reason(client, seller, category):
    listing = listing_in("reserved", seller, category)
    client.force_login(seller)
    response = client.post(action_url("unpublish", listing))
    assert response["Location"] == reverse("sell:listing_edit", args=[listing.pk])
    assert messages_of(response) == [
        "A purchase of this listing is in progress, so it cannot be unpublished now."
    ]
    assert Listing.objects.get(pk=listing.pk).status == "reserved"


@pytest.mark.parametrize(
    "next_url", ["https://evil.example.com/", "//evil.example.com/", "javascript:alert(1)"]
)
def test_next_must_be_on_this_site(client, seller, category, next_url):
    listing = listing_in("draft", seller, category)
    client.force_login(seller)
    response = client.post(action_url("archive", listing), {"next": next_url})
    assert response["Location"] == reverse("sell:listing_edit", args=[listing.pk])


def test_deleting_a_draft_goes_to_the_dashboard(client, seller, category):
    listing = listing_in("draft", seller, category, title="Desk")
    client.force_login(seller)
    response = client.post(
        action_url("delete", listing), {"next": reverse("sell:listing_edit", args=[listing.pk])}
    )
    assert response["Location"] == reverse("sell:dashboard")
    assert messages_of(response) == ["“Desk” is deleted."]
    assert not Listing.objects.filter(pk=listing.pk).exists()


def test_deleting_an_active_listing_archives_it_and_says_so(client, seller, category):
    listing = listing_in("active", seller, category, title="Desk")
    client.force_login(seller)
    response = client.post(action_url("delete", listing))
    assert messages_of(response) == [
        "“Desk” was published before, so it is kept for the buyers' and your records: it is archived "
        "instead, off the site for good."
    ]
    assert Listing.objects.get(pk=listing.pk).status == "archived"


@pytest.mark.parametrize("action", sorted(ACTION_URLS))
def test_another_user_gets_404_from_every_button(client, seller, category, action):
    status = "active" if action in ("unpublish", "mark_sold") else "draft"
    listing = listing_in(status, seller, category)
    client.force_login(SellerFactory())
    assert client.post(action_url(action, listing)).status_code == 404
    assert Listing.objects.get(pk=listing.pk).status == status


@pytest.mark.parametrize("action", sorted(ACTION_URLS))
def test_anonymous_visitors_are_sent_to_log_in(client, seller, category, action):
    listing = listing_in("draft", seller, category)
    response = client.post(action_url(action, listing))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert Listing.objects.get(pk=listing.pk).status == "draft"


@pytest.mark.parametrize("action", sorted(ACTION_URLS))
def test_buttons_are_post_only(client, seller, category, action):
    listing = listing_in("draft", seller, category)
    client.force_login(seller)
    assert client.get(action_url(action, listing)).status_code == 405
    assert Listing.objects.get(pk=listing.pk).status == "draft"


def test_buttons_need_the_csrf_token(seller, category):
    listing = listing_in("draft", seller, category)
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(seller)
    assert csrf_client.post(action_url("publish", listing)).status_code == 403
    assert Listing.objects.get(pk=listing.pk).status == "draft"
    # With the token from the editor page, the same button works.
    csrf_client.get(reverse("sell:listing_edit", args=[listing.pk]))
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post(action_url("publish", listing), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Listing.objects.get(pk=listing.pk).status == "active"


def test_an_unverified_seller_is_told_why_publishing_failed(client, category):
    seller = SellerFactory(email_verified_at=None)
    listing = listing_in("draft", seller, category)
    client.force_login(seller)
    page = client.get(reverse("sell:listing_edit", args=[listing.pk])).content.decode()
    assert "Verify your email address to publish" in page
    response = client.post(action_url("publish", listing))
    assert messages_of(response)[0].startswith("Verify your email address before publishing")
    assert Listing.objects.get(pk=listing.pk).status == "draft"


def test_a_suspended_seller_cannot_publish_from_the_editor(client, category):
    seller = SellerFactory(account_status=AccountStatus.SUSPENDED)
    listing = listing_in("draft", seller, category)
    client.force_login(seller)
    response = client.post(action_url("publish", listing))
    assert any(text.startswith("Your account is suspended") for text in messages_of(response))
    assert Listing.objects.get(pk=listing.pk).status == "draft"


def test_publishing_puts_the_listing_on_its_public_page(
    client, seller, category, django_capture_on_commit_callbacks
):
    listing = listing_in("draft", seller, category, title="Fresh desk")
    public_url = reverse("listings:detail", args=[listing.slug])
    assert client.get(public_url).status_code == 404
    client.force_login(seller)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(action_url("publish", listing))
    client.logout()
    assert "Fresh desk" in client.get(public_url).content.decode()
    client.force_login(seller)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(action_url("mark_sold", listing))
    client.logout()
    assert '<p class="badge badge-sold">Sold</p>' in client.get(public_url).content.decode()
