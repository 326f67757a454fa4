"""The listing page: who may see what, what it shows, its cached fragment and query counts."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import INFO as MESSAGE_INFO
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_redis import get_redis_connection

from accounts.models import AccountStatus
from accounts.services import user_ban
from listings.categories import bump_category_tree_version
from listings.models import Listing
from listings.moderation import listing_take_down
from listings.photos import photo_add, photo_delete, photo_make_primary
from listings.selectors import listing_page_cache_key, listing_visitor_stamp
from listings.services import listing_changed, seller_changed
from marketplace.page_cache import visitor_page_key
from reviews.models import Review
from reviews.services import reviews_publish_due
from tests.factories import (
    CategoryFactory,
    FavoriteFactory,
    ListingFactory,
    ReviewFactory,
    SellerFactory,
    UserFactory,
)
from tests.images import image_bytes
from tests.moderation.helpers import staff_in

pytestmark = pytest.mark.django_db

FURNITURE_SCHEMA = [
    {"key": "material", "label": "Material", "type": "enum", "options": ["Walnut", "Oak"]},
    {"key": "width", "label": "Width", "type": "number", "unit": "in"},
]
DESK_SCHEMA = [
    {"key": "height", "label": "Height", "type": "number", "unit": "cm"},
    {"key": "adjustable", "label": "Height adjustable", "type": "boolean"},
    {"key": "brand", "label": "Brand", "type": "text"},
]


@pytest.fixture
def desks():
    furniture = CategoryFactory(name="Furniture", slug="furniture", attribute_schema=FURNITURE_SCHEMA)
    desks = CategoryFactory(name="Desks", slug="desks", parent=furniture, attribute_schema=DESK_SCHEMA)
    bump_category_tree_version()
    return desks


@pytest.fixture
def seller():
    return SellerFactory(first_name="Ada", last_name="Lovelace")


def page(client, listing, token=None):
    if token is None:
        return client.get(reverse("listings:detail", args=[listing.slug]))
    return client.get(reverse("listings:detail_unlisted", args=[listing.slug, token]))


def review_of(seller, **fields):
    """A buyer's review of ``seller`` (each on its own sold item: one live transaction per listing)."""
    return ReviewFactory(transaction__listing=make_listing(seller=seller, status="sold"), **fields)


def make_listing(**fields):
    status = fields.get("status", Listing.Status.ACTIVE)
    if status == Listing.Status.DRAFT:
        fields.setdefault("published_at", None)
    if status == Listing.Status.SOLD:
        fields.setdefault("sold_at", timezone.now())
    return ListingFactory(**fields)


# --- Access ---------------------------------------------------------------------------
VIEWERS = ("anonymous", "other", "owner", "staff")


def as_viewer(client, viewer, listing):
    if viewer == "other":
        client.force_login(UserFactory())
    elif viewer == "owner":
        client.force_login(listing.seller)
    elif viewer == "staff":
        client.force_login(UserFactory(is_staff=True))
    return client


# (status, visibility) -> viewers who get the page at the public slug URL
ACCESS = [
    ("active", "public", {"anonymous", "other", "owner", "staff"}),
    ("reserved", "public", {"anonymous", "other", "owner", "staff"}),
    ("sold", "public", {"anonymous", "other", "owner", "staff"}),
    ("draft", "public", {"owner", "staff"}),
    ("archived", "public", {"owner", "staff"}),
    ("active", "private", {"owner", "staff"}),
    ("sold", "private", {"owner", "staff"}),
    ("active", "unlisted", {"owner", "staff"}),
    ("draft", "unlisted", {"owner", "staff"}),
]


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize(("status", "visibility", "allowed"), ACCESS)
def test_access_by_status_visibility_and_viewer(client, viewer, status, visibility, allowed):
    listing = make_listing(status=status, visibility=visibility)
    response = page(as_viewer(client, viewer, listing), listing)
    assert response.status_code == (200 if viewer in allowed else 404)


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        ("active", {"anonymous", "other", "owner", "staff"}),
        ("reserved", {"anonymous", "other", "owner", "staff"}),
        ("draft", {"owner", "staff"}),
        ("archived", {"owner", "staff"}),
    ],
)
def test_unlisted_with_the_right_token(client, viewer, status, allowed):
    listing = make_listing(status=status, visibility=Listing.Visibility.UNLISTED)
    response = page(as_viewer(client, viewer, listing), listing, token=listing.share_token)
    assert response.status_code == (200 if viewer in allowed else 404)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_a_wrong_token_is_a_404_for_everyone(client, viewer):
    listing = make_listing(visibility=Listing.Visibility.UNLISTED)
    other = make_listing(visibility=Listing.Visibility.UNLISTED)
    as_viewer(client, viewer, listing)
    assert page(client, listing, token=other.share_token).status_code == 404
    assert page(client, listing, token=listing.share_token[:-1]).status_code == 404
    assert page(client, listing, token="x" * 500).status_code == 404
    assert page(client, listing, token="tökén-ü").status_code == 404


def test_a_public_listing_at_its_share_url_redirects_to_the_canonical_url(client):
    listing = make_listing()
    response = page(client, listing, token=listing.share_token)
    assert response.status_code == 302
    assert response["Location"] == listing.get_absolute_url()
    assert page(client, listing, token="wrong-token").status_code == 404


@pytest.mark.parametrize("visibility", [Listing.Visibility.PUBLIC, Listing.Visibility.UNLISTED])
def test_a_visitors_buy_now_logs_in_and_comes_back_to_the_listing(client, visibility):
    """A visitor's Buy now is a link to the log-in page that returns to this very page (its
    share URL for an unlisted listing), not a POST the log-in would turn into a GET."""
    listing = make_listing(visibility=visibility, price_cents=5_000)
    token = listing.share_token if visibility == Listing.Visibility.UNLISTED else None
    response = page(client, listing, token=token)
    html = response.content.decode()
    here = response.wsgi_request.get_full_path()
    login = reverse("accounts:login")
    assert f'href="{login}?next={here.replace("/", "%2F")}">Buy now</a>' in html
    assert 'class="buy-form"' not in html


@pytest.mark.parametrize(("viewer", "expected"), [("anonymous", 404), ("other", 404), ("staff", 200)])
def test_a_banned_sellers_listings_are_gone_for_all_but_staff(client, viewer, expected):
    listing = make_listing(seller=SellerFactory(account_status=AccountStatus.BANNED))
    as_viewer(client, viewer, listing)
    assert page(client, listing).status_code == expected
    unlisted = make_listing(seller=listing.seller, visibility=Listing.Visibility.UNLISTED)
    assert page(client, unlisted, token=unlisted.share_token).status_code == expected


def test_staff_see_a_notice_on_listings_only_they_can_see(client):
    listing = make_listing(seller=SellerFactory(account_status=AccountStatus.BANNED))
    client.force_login(UserFactory(is_staff=True))
    html = page(client, listing).content.decode()
    assert "its seller is banned" in html
    assert "Buy now" not in html and "Contact seller" not in html


def test_bad_input(client):
    assert client.get("/listings/no-such-listing/").status_code == 404
    assert client.get("/listings/no-such-listing/some-token/").status_code == 404
    listing = make_listing()
    assert client.post(listing.get_absolute_url()).status_code == 405
    assert client.get(f"/listings/{listing.slug}/a/b/").status_code == 404


# --- Content --------------------------------------------------------------------------
def test_page_shows_the_listing(client, desks, seller):
    listing = make_listing(
        seller=seller,
        category=desks,
        title="Walnut standing desk",
        description="Solid walnut.\n\nBarely used <script>alert(1)</script>",
        price_cents=45_999,
        currency="USD",
        pricing_type=Listing.PricingType.NEGOTIABLE,
        location_city="Portland",
        location_country="US",
    )
    response = page(client, listing)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<h1 class="listing-title">Walnut standing desk</h1>' in html
    assert "$459.99" in html
    assert "Negotiable" in html
    assert "Portland, US" in html
    # Autoescaped, paragraphs from blank lines.
    assert "<p>Solid walnut.</p>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    # Breadcrumbs: the category and its ancestors.
    assert reverse("listings:category", args=["furniture"]) in html
    assert reverse("listings:category", args=["desks"]) in html


def test_contact_for_price_and_hourly_rates(client):
    assert "Contact for price" in page(client, make_listing(price_cents=None)).content.decode()
    hourly = make_listing(price_cents=5_000, pricing_type=Listing.PricingType.HOURLY)
    html = page(client, hourly).content.decode()
    assert "$50.00" in html and "/ hour" in html and "Hourly" in html


def test_attributes_render_with_labels_and_units_from_the_merged_schema(client, desks):
    listing = make_listing(
        category=desks,
        attributes={
            "material": "Walnut",  # from the parent's schema
            "width": 1200,
            "height": 72.5,
            "adjustable": True,
            "brand": "Fully",
            "undeclared": "not in any schema",
            "mistyped": 3,
        },
    )
    html = page(client, listing).content.decode()
    assert "<dt>Material</dt><dd>Walnut</dd>" in html
    assert "<dt>Width</dt><dd>1200 in</dd>" in html
    assert "<dt>Height</dt><dd>72.5 cm</dd>" in html
    assert "<dt>Height adjustable</dt><dd>Yes</dd>" in html
    assert "<dt>Brand</dt><dd>Fully</dd>" in html
    assert "undeclared" not in html and "not in any schema" not in html
    # Ancestor attributes come first, in schema order.
    assert html.index("<dt>Material</dt>") < html.index("<dt>Width</dt>") < html.index("<dt>Height</dt>")


def test_a_value_of_the_wrong_type_is_left_out(client, desks):
    listing = make_listing(category=desks, attributes={"width": "72", "adjustable": "yes", "height": 70})
    html = page(client, listing).content.decode()
    assert "<dt>Width</dt>" not in html and "<dt>Height adjustable</dt>" not in html
    assert "<dt>Height</dt><dd>70 cm</dd>" in html


def test_images_primary_first_without_duplicates_or_script_urls(client):
    listing = make_listing(
        primary_image_url="https://cdn.example.com/front.jpg",
        images=[
            {"url": "https://cdn.example.com/side.jpg", "alt": "Side view"},
            {"url": "https://cdn.example.com/front.jpg"},
            {"url": "javascript:alert(1)"},
            "https://cdn.example.com/back.jpg",
        ],
    )
    html = page(client, listing).content.decode()
    front = html.index('src="https://cdn.example.com/front.jpg"')
    assert front < html.index('src="https://cdn.example.com/side.jpg"') < html.index("back.jpg")
    assert html.count('src="https://cdn.example.com/front.jpg"') == 1
    assert 'alt="Side view"' in html
    assert "javascript:" not in html


def test_seller_card_and_latest_reviews(client, seller):
    seller.phone_verified_at = timezone.now()
    seller.seller_verified_at = timezone.now()
    seller.save(update_fields=["phone_verified_at", "seller_verified_at"])
    listing = make_listing(seller=seller)
    reviews = [review_of(seller, rating=4, comment=f"Review {i}") for i in range(7)]
    for index, review in enumerate(reviews):
        Review.objects.filter(pk=review.pk).update(created_at=timezone.now() - timedelta(days=10 - index))
    review_of(seller, rating=1, comment="Removed review", status=Review.Status.REMOVED)
    # A review Ada received as a buyer (written by the seller she bought from) rates her as
    # a buyer: not a seller review.
    bought = ListingFactory(status="sold", sold_at=timezone.now())
    ReviewFactory(
        transaction__listing=bought,
        transaction__buyer=seller,
        reviewer=bought.seller,
        reviewee=seller,
        reviewer_type=Review.ReviewerType.SELLER,
        comment="About the buyer",
    )
    seller.refresh_from_db()
    assert seller.seller_rating_count == 7

    html = page(client, listing).content.decode()
    assert "Ada Lovelace" in html
    assert "4.0 out of 5" in html and "(7 reviews)" in html
    assert f'Member since <time datetime="{seller.created_at:%Y-%m}">{seller.created_at:%B %Y}' in html
    assert "Email verified" in html and "Phone verified" in html and "Verified seller" in html
    assert "Identity verified" not in html
    shown = [f"Review {i}" for i in range(7) if f"Review {i}</p>" in html]
    assert shown == ["Review 2", "Review 3", "Review 4", "Review 5", "Review 6"]
    assert html.index("Review 6") < html.index("Review 2")
    assert "Removed review" not in html and "About the buyer" not in html


def test_reserved_and_sold_are_marked_and_cannot_be_bought(client):
    for status, label in (("reserved", "Reserved"), ("sold", "Sold")):
        html = page(client, make_listing(status=status)).content.decode()
        assert f'<p class="badge badge-{status}">{label}</p>' in html
        assert "Buy now" not in html


def test_buy_and_contact_for_buyers_edit_for_the_owner(client, seller):
    listing = make_listing(seller=seller)
    client.force_login(UserFactory())
    html = page(client, listing).content.decode()
    assert f'action="/payments/checkout/{listing.slug}/"' in html
    assert f'href="/messages/new/?listing={listing.pk}"' in html
    assert "/edit/" not in html

    negotiable = make_listing(seller=seller, pricing_type=Listing.PricingType.NEGOTIABLE)
    html = page(client, negotiable).content.decode()
    assert "/checkout/" not in html and "Contact seller" in html

    client.force_login(seller)
    html = page(client, listing).content.decode()
    assert f'href="/sell/listings/{listing.pk}/edit/"' in html
    assert "/checkout/" not in html and "Contact seller" not in html and "favorite-form" not in html


def test_owner_of_an_unlisted_listing_sees_its_share_link(client, seller):
    listing = make_listing(seller=seller, visibility=Listing.Visibility.UNLISTED)
    client.force_login(seller)
    html = page(client, listing).content.decode()
    assert reverse("listings:detail_unlisted", args=[listing.slug, listing.share_token]) in html


def test_favorite_button_reflects_the_viewers_state(client):
    listing = make_listing()
    html = page(client, listing).content.decode()
    assert "favorite-form" not in html and "Log in to save" in html

    user = UserFactory()
    client.force_login(user)
    html = page(client, listing).content.decode()
    assert 'aria-pressed="false"' in html and reverse("listings:favorite", args=[listing.slug]) in html

    FavoriteFactory(user=user, listing=listing)
    html = page(client, listing).content.decode()
    assert 'aria-pressed="true"' in html
    assert f'action="{reverse("listings:unfavorite", args=[listing.slug])}"' in html


def test_unlisted_listings_offer_no_favorite_button(client):
    listing = make_listing(visibility=Listing.Visibility.UNLISTED)
    client.force_login(UserFactory())
    assert "favorite-form" not in page(client, listing, token=listing.share_token).content.decode()


# --- Cache ----------------------------------------------------------------------------
def test_the_shared_fragment_is_cached_without_per_user_parts(client, seller):
    listing = make_listing(seller=seller, title="Cached desk")
    client.force_login(seller)
    page(client, listing)
    listing = Listing.objects.select_related("seller").get(pk=listing.pk)
    key = listing_page_cache_key(listing)
    assert key.startswith(f"listing-page:{listing.pk}:v")
    parts = cache.get(key)
    fragment = "".join(parts.values())
    assert "Cached desk" in fragment
    assert "csrfmiddlewaretoken" not in fragment
    assert "Your listing" not in fragment and "favorite-form" not in fragment


def test_the_fragment_expires_after_the_ttl_setting(client, settings):
    settings.LISTING_PAGE_CACHE_TTL = 42
    listing = make_listing()
    page(client, listing)
    listing = Listing.objects.select_related("seller").get(pk=listing.pk)
    ttl = get_redis_connection("default").ttl(cache.make_key(listing_page_cache_key(listing)))
    assert 0 < ttl <= 42


def test_an_edit_through_the_service_bump_never_shows_a_stale_price_or_status(
    client, django_capture_on_commit_callbacks
):
    listing = make_listing(price_cents=10_000)
    assert "$100.00" in page(client, listing).content.decode()
    assert "$100.00" in page(client, listing).content.decode()  # served from the cache

    # An edit service: write the row, bump on commit.
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        Listing.objects.filter(pk=listing.pk).update(price_cents=8_000)
        listing_changed(listing.pk)
    html = page(client, listing).content.decode()
    assert "$80.00" in html and "$100.00" not in html

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        Listing.objects.filter(pk=listing.pk).update(status=Listing.Status.RESERVED)
        listing_changed(listing.pk)
    html = page(client, listing).content.decode()
    assert "badge-reserved" in html and "Buy now" not in html


def test_an_edit_that_forgets_the_bump_still_moves_the_key(client):
    """updated_at (kept by a trigger) is part of the key: an admin edit is never stale."""
    listing = make_listing(price_cents=10_000)
    page(client, listing)
    listing.price_cents = 7_000
    listing.save()
    assert "$70.00" in page(client, listing).content.decode()


def test_bumps_move_the_key_only_after_the_commit(django_capture_on_commit_callbacks):
    listing = Listing.objects.select_related("seller").get(pk=make_listing().pk)
    before = listing_page_cache_key(listing)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        listing_changed(listing.pk)
        assert listing_page_cache_key(listing) == before  # not committed yet
    assert len(callbacks) == 1
    after_listing = listing_page_cache_key(listing)
    assert after_listing != before
    with django_capture_on_commit_callbacks(execute=True):
        seller_changed(listing.seller_id)
    assert listing_page_cache_key(listing) not in (before, after_listing)


def test_a_new_review_or_a_review_reply_refreshes_the_seller_card(
    client, seller, django_capture_on_commit_callbacks
):
    listing = make_listing(seller=seller)
    assert "No reviews yet" in page(client, listing).content.decode()

    review = review_of(seller, rating=3, comment="Fine.")
    html = page(client, listing).content.decode()  # the rating trigger moved seller.updated_at
    assert "3.0 out of 5" in html and "Fine." in html

    # A reply touches no user row: the review service bumps the seller version.
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        Review.objects.filter(pk=review.pk).update(response="Thanks for buying!", responded_at=timezone.now())
        seller_changed(seller.pk)
    assert "Thanks for buying!" in page(client, listing).content.decode()


def test_a_category_rename_refreshes_the_breadcrumbs(client, desks):
    listing = make_listing(category=desks)
    page(client, listing)
    desks.name = "Work desks"
    desks.save()
    bump_category_tree_version()
    assert "Work desks" in page(client, listing).content.decode()


def test_a_version_key_lost_from_redis_never_brings_back_an_old_fragment(
    client, django_capture_on_commit_callbacks
):
    listing = make_listing(price_cents=10_000)
    page(client, listing)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        Listing.objects.filter(pk=listing.pk).update(price_cents=9_000)
        listing_changed(listing.pk)
    page(client, listing)
    cache.delete(f"listing-version:{listing.pk}")  # evicted
    assert "$90.00" in page(client, listing).content.decode()


# Every change a visitor must see at once, through the service that makes it (the cached
# fragment is read first each time, so a stale key would show the old page).
def test_a_photo_change_shows_at_once(client, seller, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path / "media"
    listing = make_listing(seller=seller)
    with django_capture_on_commit_callbacks(execute=True):
        first = photo_add(listing=listing, actor=seller, upload=SimpleUploadedFile("a.jpg", image_bytes()))
    assert first["url"] in page(client, listing).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        second = photo_add(
            listing=listing, actor=seller, upload=SimpleUploadedFile("b.jpg", image_bytes(color="red"))
        )
        photo_make_primary(listing=listing, actor=seller, photo_id=second["id"])
    html = page(client, listing).content.decode()
    assert html.index(second["url"]) < html.index(first["url"])  # the new primary comes first
    with django_capture_on_commit_callbacks(execute=True):
        photo_delete(listing=listing, actor=seller, photo_id=first["id"])
    assert first["url"] not in page(client, listing).content.decode()


def test_a_take_down_and_a_seller_ban_hide_a_cached_page_at_once(
    client, seller, django_capture_on_commit_callbacks
):
    taken, kept = make_listing(seller=seller), make_listing(seller=seller)
    assert page(client, taken).status_code == 200 and page(client, kept).status_code == 200  # cached
    with django_capture_on_commit_callbacks(execute=True):
        listing_take_down(listing=taken, actor=staff_in("Moderator"), reason="Counterfeit goods listed.")
    assert page(client, taken).status_code == 404
    assert page(client, kept).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        user_ban(
            user=seller, actor=UserFactory(is_staff=True, is_superuser=True), reason="Fraud reported twice."
        )
    assert page(client, kept).status_code == 404


def test_a_review_published_when_its_window_closes_shows_on_a_cached_page_at_once(
    client, seller, django_capture_on_commit_callbacks
):
    listing = make_listing(seller=seller)
    review_of(
        seller, rating=4, comment="Quick and friendly.", published_at=None, window_closes_at=timezone.now()
    )
    assert "No reviews yet" in page(client, listing).content.decode()  # cached without it
    with django_capture_on_commit_callbacks(execute=True):
        assert reviews_publish_due() == 1
    html = page(client, listing).content.decode()
    assert "Quick and friendly." in html and "4.0 out of 5" in html


# --- The whole page for visitors who are not signed in ---------------------------------------
def nonces_in(response) -> tuple[set[str], str]:
    """The nonces of the page's script tags, and the one its CSP header allows."""
    header = response["Content-Security-Policy"]
    allowed = header.split("'nonce-", 1)[1].split("'", 1)[0]
    return set(re.findall(r'nonce="([^"]+)"', response.content.decode())), allowed


def test_a_visitors_page_is_served_whole_from_the_cache_with_a_fresh_nonce(client, django_assert_num_queries):
    listing = make_listing(title="Whole page desk")
    first = page(client, listing)
    with django_assert_num_queries(1):  # the access check only: no reviews, no tree, no render
        second = page(client, listing)
    (first_nonces, first_allowed), (second_nonces, second_allowed) = nonces_in(first), nonces_in(second)
    assert first_nonces == {first_allowed} and second_nonces == {second_allowed}
    assert first_allowed != second_allowed  # a nonce is never served twice
    assert second.content.decode().replace(second_allowed, "N") == first.content.decode().replace(
        first_allowed, "N"
    )
    assert "csrfmiddlewaretoken" not in second.content.decode() and "csrftoken" not in second.cookies


def test_a_visitors_stamp_is_what_the_cached_page_reads_in_one_query(seller, django_assert_num_queries):
    listing = make_listing(seller=seller)
    listing = Listing.objects.select_related("seller", "category").get(pk=listing.pk)
    expected_key = listing_page_cache_key(listing)
    with django_assert_num_queries(1):
        stamp = listing_visitor_stamp(listing.slug)
        assert (stamp.pk, stamp.slug, stamp.seller_id, stamp.status, stamp.visibility) == (
            listing.pk,
            listing.slug,
            listing.seller_id,
            listing.status,
            listing.visibility,
        )
        assert (stamp.seller_banned, stamp.share_token, stamp.favorite_count) == (
            False,
            listing.share_token,
            0,
        )
        assert stamp.updated_at == listing.updated_at
        assert stamp.seller.updated_at == listing.seller.updated_at
        assert stamp.category.slug == listing.category.slug
        assert listing_page_cache_key(stamp) == expected_key
    assert stamp.description == listing.description  # a field it left out: read when asked
    assert listing_visitor_stamp("no-such-listing") is None


def test_the_favorite_counter_a_visitor_sees_is_never_stale(client):
    """A trigger keeps the counter without moving ``updated_at``: the count is in the key."""
    listing = make_listing()
    assert "<span data-favorite-count>0</span>" in page(client, listing).content.decode()
    FavoriteFactory(listing=listing)
    assert "<span data-favorite-count>1</span>" in page(client, listing).content.decode()


def test_members_query_strings_and_flash_messages_never_use_the_visitors_page(client, seller):
    listing = make_listing(seller=seller)
    visitor_page = page(client, listing).content.decode()  # cached for visitors

    html = client.get(listing.get_absolute_url(), {"q": "lamp"}).content.decode()
    assert 'value="lamp"' in html  # the header's search box, rendered for this request

    member = UserFactory()
    client.force_login(member)
    html = page(client, listing).content.decode()
    assert html != visitor_page and "favorite-form" in html and "csrfmiddlewaretoken" in html
    client.force_login(seller)
    html = page(client, listing).content.decode()
    assert "Your listing" in html and "Edit listing" in html
    client.logout()  # "You have been logged out"-style messages are shown to this visitor only

    request = RequestFactory().get(listing.get_absolute_url())
    request.user = AnonymousUser()
    request.session = {}
    messages = FallbackStorage(request)
    request._messages = messages
    messages.add(MESSAGE_INFO, "Only for you.")
    assert visitor_page_key(request, "k") is None


# --- Query counts ---------------------------------------------------------------------
def listing_with(count: int, seller):
    listing = make_listing(
        seller=seller,
        attributes={"material": "Oak", "width": 30},
        images=[{"url": f"https://cdn.example.com/{i}.jpg"} for i in range(count)],
    )
    for _ in range(count):
        review_of(seller)
    return listing


@pytest.mark.parametrize("count", [1, 8])
def test_query_counts_anonymous(client, desks, seller, django_assert_num_queries, count):
    listing = listing_with(count, seller)
    Listing.objects.filter(pk=listing.pk).update(category=desks)
    cache.delete_pattern("*")
    # Cold: the listing's stamp (a miss), the listing (seller and category joined), category
    # tree, reviews.
    with django_assert_num_queries(4):
        assert page(client, listing).status_code == 200
    # Cached: the listing's stamp only (the access check always reads it fresh).
    with django_assert_num_queries(1):
        assert page(client, listing).status_code == 200


@pytest.mark.parametrize("count", [1, 8])
def test_query_counts_signed_in(client, desks, seller, django_assert_num_queries, count):
    listing = listing_with(count, seller)
    Listing.objects.filter(pk=listing.pk).update(category=desks)
    client.force_login(UserFactory())
    page(client, make_listing(category=desks))  # warms the category tree
    # Cold: user, listing (+ favorite and follow state), reviews.
    with django_assert_num_queries(3):
        assert page(client, listing).status_code == 200
    # Cached: user, listing (+ favorite and follow state).
    with django_assert_num_queries(2):
        assert page(client, listing).status_code == 200


def test_a_cached_hit_performs_fewer_queries(client):
    listing = make_listing()
    with CaptureQueriesContext(connection) as cold:
        page(client, listing)
    with CaptureQueriesContext(connection) as cached:
        page(client, listing)
    assert len(cached) < len(cold)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2017, "2017"),
        (9999, "9999"),
        (95100, "95,100"),
        (48.5, "48.5"),
        (12500.25, "12,500.25"),
        (30.0, "30"),
    ],
)
def test_attribute_numbers_read_naturally(value, text):
    from listings.selectors import _format_number

    assert _format_number(value) == text
