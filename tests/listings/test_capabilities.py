"""One predicate for what a viewer may do with a listing: the page, the preview, the template
and the purchase service all ask ``listings.capabilities``; a table of viewers x listings pins
the flags, and the purchase service refuses exactly where the page offers no "Buy now"."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus
from listings.capabilities import (
    listing_capabilities,
    listing_preview_capabilities,
    listing_purchase_refusal,
)
from listings.models import Listing
from marketplace.errors import ErrorCode, ServiceError
from payments.models import Transaction
from payments.services import transaction_start
from tests.factories import ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db

VIEWERS = ("anonymous", "member", "owner", "staff", "suspended")
# name -> (listing fields, seller fields, open with the share token)
LISTINGS = {
    "active": ({}, {}, False),
    "unlisted-with-token": ({"visibility": Listing.Visibility.UNLISTED}, {}, True),
    "unlisted-without-token": ({"visibility": Listing.Visibility.UNLISTED}, {}, False),
    "reserved": ({"status": Listing.Status.RESERVED}, {}, False),
    "sold": ({"status": Listing.Status.SOLD, "sold_at": timezone.now()}, {}, False),
    "draft": ({"status": Listing.Status.DRAFT, "published_at": None}, {}, False),
    "archived": ({"status": Listing.Status.ARCHIVED}, {}, False),
    "private": ({"visibility": Listing.Visibility.PRIVATE}, {}, False),
    "negotiable": ({"pricing_type": Listing.PricingType.NEGOTIABLE, "price_cents": None}, {}, False),
    "fixed-without-price": ({"price_cents": None}, {}, False),
    "banned-seller": ({}, {"account_status": AccountStatus.BANNED}, False),
    "suspended-seller": ({}, {"account_status": AccountStatus.SUSPENDED}, False),
}

# What a buyer (anyone but the owner, in good standing) may do, per listing:
# (can_buy or the refusal's code, can_contact, can_favorite).
BUYER = {
    "active": (True, True, True),
    "unlisted-with-token": (True, True, False),
    "unlisted-without-token": (True, True, False),
    "reserved": (ErrorCode.RESERVED, True, True),
    "sold": (ErrorCode.SOLD, False, True),
    "draft": (ErrorCode.NOT_FOUND, False, False),
    "archived": (ErrorCode.NOT_FOUND, False, False),
    "private": (ErrorCode.NOT_FOUND, False, False),
    "negotiable": (ErrorCode.NOT_FIXED_PRICE, True, True),
    "fixed-without-price": (ErrorCode.NOT_FIXED_PRICE, True, True),
    "banned-seller": (ErrorCode.NOT_FOUND, False, False),
    "suspended-seller": (ErrorCode.NOT_FOUND, False, True),
}
# Pages only staff and the owner can open: staff get a notice there.
STAFF_ONLY = {"unlisted-without-token", "draft", "archived", "private", "banned-seller"}
NOT_EDITABLE = {"reserved", "sold", "archived"}


def make(kind: str) -> tuple[Listing, str | None]:
    fields, seller_fields, with_token = LISTINGS[kind]
    listing = ListingFactory(seller=SellerFactory(**seller_fields), **fields)
    return listing, listing.share_token if with_token else None


def viewer_of(kind: str, listing: Listing):
    if kind == "anonymous":
        return AnonymousUser()
    if kind == "owner":
        return listing.seller
    if kind == "staff":
        return UserFactory(is_staff=True)
    if kind == "suspended":
        return UserFactory(account_status=AccountStatus.SUSPENDED)
    return UserFactory()


def expected(viewer: str, kind: str) -> dict:
    buy, contact, favorite = BUYER[kind]
    if viewer == "owner":
        # The account's standing is asked first, as the purchase service does.
        owner_refusals = {
            "banned-seller": ErrorCode.ACCOUNT_BANNED,
            "suspended-seller": ErrorCode.ACCOUNT_SUSPENDED,
        }
        buy, contact, favorite = owner_refusals.get(kind, ErrorCode.OWN_LISTING), False, False
    elif viewer == "suspended":
        buy, contact = ErrorCode.ACCOUNT_SUSPENDED, False
    return {
        "is_owner": viewer == "owner",
        "can_edit": viewer == "owner" and kind not in NOT_EDITABLE,
        "can_buy": buy is True,
        "refusal": None if buy is True else buy,
        "can_contact": contact,
        "can_favorite": favorite,
        "staff_view": viewer == "staff" and kind in STAFF_ONLY,
    }


@pytest.mark.parametrize("kind", LISTINGS)
@pytest.mark.parametrize("viewer", VIEWERS)
def test_capabilities_table(viewer, kind):
    listing, token = make(kind)
    capabilities = listing_capabilities(viewer_of(viewer, listing), listing, share_token=token)
    assert {
        "is_owner": capabilities.is_owner,
        "can_edit": capabilities.can_edit,
        "can_buy": capabilities.can_buy,
        "refusal": capabilities.buy_refusal.code if capabilities.buy_refusal else None,
        "can_contact": capabilities.can_contact,
        "can_favorite": capabilities.can_favorite,
        "staff_view": capabilities.staff_view,
    } == expected(viewer, kind)


@pytest.mark.parametrize("kind", LISTINGS)
@pytest.mark.parametrize("viewer", [viewer for viewer in VIEWERS if viewer != "anonymous"])
def test_the_purchase_service_refuses_exactly_where_the_page_offers_no_buy_button(viewer, kind):
    listing, token = make(kind)
    buyer = viewer_of(viewer, listing)
    capabilities = listing_capabilities(buyer, listing, share_token=token)
    if capabilities.can_buy:
        purchase = transaction_start(listing=listing, buyer=buyer, idempotency_key="checkout-1")
        assert purchase.status == Transaction.Status.PENDING
        return
    with pytest.raises(ServiceError) as refused:
        transaction_start(listing=listing, buyer=buyer, idempotency_key="checkout-1")
    assert (refused.value.code, refused.value.message) == (
        capabilities.buy_refusal.code,
        capabilities.buy_refusal.message,
    )
    assert not Transaction.objects.exists()


def test_a_visitor_is_offered_the_button_and_asked_to_log_in_first(client):
    """The visitor's Buy now leads to the log-in page and back to this listing (a POST to the
    checkout would come back from the log-in as a GET)."""
    listing, _ = make("active")
    assert listing_capabilities(AnonymousUser(), listing).can_buy
    html = client.get(listing.get_absolute_url()).content.decode()
    back = listing.get_absolute_url().replace("/", "%2F")
    assert f'href="{reverse("accounts:login")}?next={back}">Buy now</a>' in html
    assert f'action="{reverse("payments:checkout_start", args=[listing.slug])}"' not in html


def test_a_suspended_buyer_sees_why_there_is_no_buy_button(client):
    listing, _ = make("active")
    client.force_login(UserFactory(account_status=AccountStatus.SUSPENDED))
    html = client.get(listing.get_absolute_url()).content.decode()
    assert "Buy now" not in html and "Contact seller" not in html
    assert "Your account is suspended" in html
    assert "favorite-form" in html  # saving a listing is not buying, selling or messaging


@pytest.mark.parametrize(
    ("kind", "can_buy", "can_contact"),
    [
        ("draft", True, True),  # as it will be once published
        ("active", True, True),
        ("reserved", False, True),
        ("sold", False, False),
        ("archived", False, False),
        ("private", False, False),
        ("negotiable", False, True),
    ],
)
def test_the_preview_shows_the_buttons_buyers_will_get(kind, can_buy, can_contact):
    listing, _ = make(kind)
    capabilities = listing_preview_capabilities(listing)
    assert (capabilities.can_buy, capabilities.can_contact) == (can_buy, can_contact)
    assert not (capabilities.is_owner or capabilities.can_favorite or capabilities.staff_view)
    assert Listing.objects.get(pk=listing.pk).status == listing.status  # nothing was changed


def test_the_preview_shows_the_buy_button_exactly_where_capabilities_say(seller_client_for):
    for kind, shown in (("draft", True), ("private", False), ("archived", False)):
        listing, _ = make(kind)
        html = seller_client_for(listing).get(reverse("sell:listing_preview", args=[listing.pk])).content
        assert ("Buy now" in html.decode()) is shown, kind


@pytest.fixture
def seller_client_for(client):
    def login(listing):
        client.force_login(listing.seller)
        return client

    return login


# --- Bad input ----------------------------------------------------------------------------------
def test_bad_listing_rows_are_refused_not_crashed():
    def row(seller_status=AccountStatus.ACTIVE, **fields):
        return ListingFactory.build(seller=SellerFactory.build(account_status=seller_status), **fields)

    assert listing_purchase_refusal(row()) is None
    assert listing_purchase_refusal(row(price_cents=0)).code == ErrorCode.NOT_FIXED_PRICE
    assert listing_purchase_refusal(row(status="no-such-status")).code == ErrorCode.NOT_FOUND
    assert listing_purchase_refusal(row(visibility="no-such-visibility")).code == ErrorCode.NOT_FOUND
    assert listing_purchase_refusal(row(seller_status=AccountStatus.SUSPENDED)).code == ErrorCode.NOT_FOUND
    assert listing_purchase_refusal(row(seller_status=AccountStatus.BANNED)).code == ErrorCode.NOT_FOUND
    capabilities = listing_capabilities(AnonymousUser(), row(status="no-such-status"))
    assert not (capabilities.can_buy or capabilities.can_contact or capabilities.can_favorite)
