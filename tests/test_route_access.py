"""Every route that takes a slug, id or token answers a viewer who may not see the object
exactly as it answers an unknown one, and changes nothing.

The routes come from the URLconf: a new route with a parameter fails
``test_every_route_with_a_parameter_has_a_case`` until it gets a case in ``CASES``. Each case
lists objects and who must find them hidden (same status, Location, messages and body as for
an unknown key, after the keys themselves are replaced by placeholders) and who must find them
(an answer that differs from the unknown one, so the case is not vacuous). Viewers are an
anonymous visitor, another member, the owner (seller), staff and, for orders, the buyer.
The admin is checked as a whole: every admin route with a parameter sends anonymous visitors
and members to the admin login, whatever the object.
"""

import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import AccountStatus
from accounts.services import email_change_url, email_verification_token
from listings.models import Favorite, Listing
from listings.photos import listing_photos
from marketplace.asgi import application as asgi_application
from payments.models import Transaction
from payments.services import transaction_start
from tests.factories import CategoryFactory, ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db

ANONYMOUS, MEMBER, OWNER, STAFF, BUYER = "anonymous", "member", "owner", "staff", "buyer"
EVERYONE = {ANONYMOUS, MEMBER, OWNER, STAFF}
CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=|data-csrf-token=|csrftoken=)"?[^" ;>]+')
NONCE = re.compile(r'nonce="[^"]+"')  # the CSP nonce: random per response, like the CSRF token


# --- The URLconf -----------------------------------------------------------------------------
def _parameters(pattern) -> list[str]:
    if isinstance(pattern, RegexPattern):
        return list(pattern.regex.groupindex)
    return list(pattern.converters)


def routes_with_parameters(resolvers=None, namespace="", prefix="") -> dict[str, tuple[str, list[str]]]:
    """``{name: (route, parameters)}`` of every URL pattern that takes a parameter; unnamed
    patterns are keyed by their route."""
    found = {}
    for entry in get_resolver().url_patterns if resolvers is None else resolvers:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found.update(routes_with_parameters(entry.url_patterns, inner, route))
        elif isinstance(entry, URLPattern):
            parameters = _parameters(entry.pattern)
            if parameters:
                found[f"{namespace}{entry.name}" if entry.name else f"{namespace}[{route}]"] = (
                    route,
                    parameters,
                )
    return found


# --- The world ---------------------------------------------------------------------------------
@dataclass
class World:
    users: dict
    listings: dict
    txn: Transaction
    category: object
    photo_listing: Listing

    def __getitem__(self, name):
        return self.listings[name]


@pytest.fixture
def world(settings) -> World:
    settings.STRIPE_CONNECT_SIMULATED = True
    owner = SellerFactory(stripe_connect_id="acct_route_owner")
    banned = SellerFactory(account_status=AccountStatus.BANNED)
    users = {
        OWNER: owner,
        MEMBER: UserFactory(),
        STAFF: UserFactory(is_staff=True),
        BUYER: UserFactory(),
        "banned": banned,
        "unverified": UserFactory(email_verified_at=None),
    }
    category = CategoryFactory(slug="desks")
    listings = {
        "public": ListingFactory(seller=owner, category=category),
        "unlisted": ListingFactory(seller=owner, visibility=Listing.Visibility.UNLISTED),
        "private": ListingFactory(seller=owner, visibility=Listing.Visibility.PRIVATE),
        "draft": ListingFactory(seller=owner, status=Listing.Status.DRAFT, published_at=None),
        "unlisted_draft": ListingFactory(
            seller=owner,
            status=Listing.Status.DRAFT,
            published_at=None,
            visibility=Listing.Visibility.UNLISTED,
        ),
        "archived": ListingFactory(seller=owner, status=Listing.Status.ARCHIVED),
        "banned_sellers": ListingFactory(seller=banned),
        "ordered": ListingFactory(seller=owner),
    }
    photo_listing = ListingFactory(
        seller=owner,
        status=Listing.Status.DRAFT,
        published_at=None,
        images=["https://example.com/one.jpg", "https://example.com/two.jpg"],
    )
    txn = transaction_start(listing=listings["ordered"], buyer=users[BUYER], idempotency_key="route-access")
    return World(users=users, listings=listings, txn=txn, category=category, photo_listing=photo_listing)


def snapshot() -> tuple:
    """What a refused request must leave as it was."""
    return (
        sorted(Transaction.objects.values_list("id", "status")),
        sorted(Favorite.objects.values_list("user_id", "listing_id")),
        sorted(Listing.objects.values_list("id", "status", "visibility", "price_cents", "images")),
    )


# --- Cases ---------------------------------------------------------------------------------------
@dataclass
class Entry:
    """One object at one route: its URL kwargs (and POST data), and who may or may not see it."""

    kwargs: dict
    hidden_from: set = field(default_factory=set)
    visible_to: set = field(default_factory=set)
    data: dict = field(default_factory=dict)


@dataclass
class Case:
    method: str
    unknown: dict  # kwargs naming nothing
    entries: Callable[[World], list[Entry]]
    unknown_data: dict = field(default_factory=dict)
    also: Callable | None = None  # further checks: also(world, request)


def slug_of(name):
    return lambda w: {"slug": w[name].slug}


UNKNOWN_SLUG = {"slug": "no-such-listing"}
UNKNOWN_LISTING_ID = {"listing_id": uuid.UUID(int=1)}
UNKNOWN_TXN = {"transaction_id": uuid.UUID(int=2)}
HIDDEN_LISTINGS = ("unlisted", "private", "draft", "archived")


def listing_page_entries(w: World) -> list[Entry]:
    return [
        Entry({"slug": w["public"].slug}, visible_to=EVERYONE),
        *(Entry({"slug": w[name].slug}, {ANONYMOUS, MEMBER}, {OWNER, STAFF}) for name in HIDDEN_LISTINGS),
        Entry({"slug": w["banned_sellers"].slug}, {ANONYMOUS, MEMBER, OWNER}, {STAFF}),
    ]


def unlisted_page_entries(w: World) -> list[Entry]:
    def at(name, token=None):
        return {"slug": w[name].slug, "share_token": token or w[name].share_token}

    return [
        Entry(at("unlisted"), visible_to=EVERYONE),
        Entry(at("unlisted", w["private"].share_token), hidden_from=EVERYONE),  # a wrong token
        Entry(at("private"), {ANONYMOUS, MEMBER}, {OWNER, STAFF}),
        Entry(at("unlisted_draft"), {ANONYMOUS, MEMBER}, {OWNER, STAFF}),
        Entry(at("banned_sellers"), {ANONYMOUS, MEMBER, OWNER}, {STAFF}),
    ]


def favorite_entries(w: World) -> list[Entry]:
    return [
        *(
            Entry({"slug": w[name].slug}, {ANONYMOUS, MEMBER})
            for name in (*HIDDEN_LISTINGS, "banned_sellers")
        ),
        Entry({"slug": w["public"].slug}, visible_to={MEMBER}),
    ]


def checkout_start_entries(w: World) -> list[Entry]:
    """The issue's input first: an unlisted listing without its token, a private one, a draft."""
    unlisted = w["unlisted"]
    return [
        *(
            Entry({"slug": w[name].slug}, {ANONYMOUS, MEMBER})
            for name in (*HIDDEN_LISTINGS, "banned_sellers")
        ),
        Entry({"slug": unlisted.slug}, {MEMBER}, data={"share_token": w["private"].share_token}),
        Entry(
            {"slug": w["unlisted_draft"].slug},
            {MEMBER},
            data={"share_token": w["unlisted_draft"].share_token},
        ),
        Entry({"slug": unlisted.slug}, visible_to={MEMBER}, data={"share_token": unlisted.share_token}),
        Entry({"slug": w["public"].slug}, visible_to={MEMBER, OWNER}),
    ]


def editor_entries(w: World) -> list[Entry]:
    return [
        Entry({"listing_id": w["public"].pk}, {ANONYMOUS, MEMBER, STAFF}),
        Entry({"listing_id": w["private"].pk}, {ANONYMOUS, MEMBER, STAFF}),
        Entry({"listing_id": w["draft"].pk}, {ANONYMOUS, MEMBER, STAFF}, {OWNER}),
    ]


def photo_entries(w: World) -> list[Entry]:
    photo_id = listing_photos(w.photo_listing)[1]["id"]
    return [
        Entry(
            {"listing_id": w.photo_listing.pk, "photo_id": photo_id},
            {ANONYMOUS, MEMBER, STAFF},
            {OWNER},
            data={"position": "0"},
        )
    ]


def order_entries(visible: set, hidden: set | None = None) -> Callable[[World], list[Entry]]:
    def entries(w: World) -> list[Entry]:
        everyone = EVERYONE | {BUYER}
        return [
            Entry({"transaction_id": w.txn.pk}, hidden if hidden is not None else everyone - visible, visible)
        ]

    return entries


def profile_entries(w: World) -> list[Entry]:
    return [
        Entry({"user_id": w.users[OWNER].pk}, visible_to=EVERYONE),
        Entry({"user_id": w.users["banned"].pk}, {ANONYMOUS, MEMBER}, {STAFF}),
    ]


def conversation_entries(w: World) -> list[Entry]:
    """The buyer's conversation with the owner about the public listing: its two participants
    and staff read it; another member finds it exactly as an unknown one."""
    from messaging.services import conversation_open

    conversation, _ = conversation_open(buyer=w.users[BUYER], seller=w.users[OWNER], listing=w["public"])
    return [Entry({"conversation_id": conversation.pk}, {ANONYMOUS, MEMBER}, {BUYER, OWNER, STAFF})]


def conversation_participant_entries(w: World) -> list[Entry]:
    """Archive, report, block: the participants' own actions (staff read, but do not act)."""
    return [
        Entry(
            {"conversation_id": entry.kwargs["conversation_id"]}, {ANONYMOUS, MEMBER, STAFF}, {BUYER, OWNER}
        )
        for entry in conversation_entries(w)
    ]


def attachment_entries(w: World) -> list[Entry]:
    """A picture attached in the buyer's conversation: its participants and staff fetch it;
    another member, or the right picture id under another conversation, gets the unknown 404."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from messaging.attachments import message_send_with_attachments
    from messaging.services import conversation_open
    from tests.images import image_bytes

    conversation, _ = conversation_open(buyer=w.users[BUYER], seller=w.users[OWNER], listing=w["public"])
    message, _ = message_send_with_attachments(
        conversation=conversation,
        sender=w.users[BUYER],
        body="",
        client_id=uuid.uuid4(),
        uploads=[SimpleUploadedFile("a.jpg", image_bytes())],
    )
    picture = message.attachments[0]["id"]
    other, _ = conversation_open(buyer=w.users[MEMBER], seller=w.users[OWNER], listing=w["public"])
    return [
        Entry(
            {"conversation_id": conversation.pk, "attachment_id": picture, "size": "thumb"},
            {ANONYMOUS, MEMBER},
            {BUYER, OWNER, STAFF},
        ),
        Entry(
            {"conversation_id": other.pk, "attachment_id": picture, "size": "full"},
            {ANONYMOUS, MEMBER, OWNER, STAFF},
        ),
    ]


def unblock_entries(w: World) -> list[Entry]:
    """Only the blocker can lift a block; to anyone else the member is unknown."""
    from messaging.safety import user_block

    user_block(blocker=w.users[BUYER], blocked=w.users[OWNER])
    return [Entry({"user_id": w.users[OWNER].pk}, {ANONYMOUS, MEMBER, OWNER, STAFF}, {BUYER})]


def offer_entries(w: World) -> list[Entry]:
    """The buyer's offer on the owner's negotiable listing: its two parties answer it (here:
    withdraw, the buyer's move; the seller's try is refused with a message, not a 404);
    another member and staff find it exactly as an unknown offer."""
    from offers.services import offer_make

    negotiable = ListingFactory(seller=w.users[OWNER], pricing_type="negotiable")
    offer = offer_make(listing=negotiable, buyer=w.users[BUYER], amount_cents=5_000)
    return [Entry({"offer_id": offer.pk, "action": "withdraw"}, {ANONYMOUS, MEMBER, STAFF}, {BUYER, OWNER})]


def notification_entries(w: World) -> list[Entry]:
    """The owner's notification: only the owner opens or marks it; anyone else (staff too)
    finds it exactly as an unknown one."""
    from notifications.models import NotificationType
    from notifications.services import notify

    notification = notify(
        user=w.users[OWNER], type=NotificationType.ACCOUNT, title="Hello", link="/", key="route-access"
    )
    return [Entry({"notification_id": notification.pk}, {ANONYMOUS, MEMBER, STAFF}, {OWNER})]


def data_export_entries(w: World) -> list[Entry]:
    """The owner's ready export: only the owner downloads it (staff too find it unknown); a
    pending or expired one is unknown even to the owner."""
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.utils import timezone

    from marketplace.storage import private_storage
    from privacy.models import DataExport

    owner = w.users[OWNER]
    name = private_storage().save(f"exports/{owner.pk}/route-access.zip", ContentFile(b"PK"))
    later = timezone.now() + timedelta(hours=1)
    ready = DataExport.objects.create(user=owner, status="ready", file=name, expires_at=later)
    expired = DataExport.objects.create(
        user=owner, status="ready", file=name, expires_at=timezone.now() - timedelta(seconds=1)
    )
    pending = DataExport.objects.create(user=owner)
    return [
        Entry({"export_id": ready.pk}, {ANONYMOUS, MEMBER, STAFF}, {OWNER}),
        Entry({"export_id": expired.pk}, EVERYONE),
        Entry({"export_id": pending.pk}, EVERYONE),
    ]


def unsubscribe_entries(w: World) -> list[Entry]:
    """A genuine link works logged out; a tampered one, or one signed for another purpose,
    answers as a made-up one (400, nothing changed)."""
    from django.core import signing

    from notifications.unsubscribe import unsubscribe_token

    token = unsubscribe_token(w.users[MEMBER].pk, "payout_sent")
    foreign = signing.dumps({"u": str(w.users[MEMBER].pk), "t": "payout_sent"}, salt="another.purpose")
    return [
        Entry({"token": token[:-4] + "AAAA"}, hidden_from={ANONYMOUS, MEMBER}),
        Entry({"token": foreign}, hidden_from={ANONYMOUS, MEMBER}),
        Entry({"token": token}, visible_to={ANONYMOUS, MEMBER}),
    ]


def unsubscribe_post_changes_nothing_unless_signed(w: World, request) -> None:
    from notifications.models import NotificationPreference
    from notifications.unsubscribe import unsubscribe_token

    token = unsubscribe_token(w.users[MEMBER].pk, "payout_sent")
    response = request(ANONYMOUS, POST, reverse("notifications:unsubscribe", args=[token[:-4] + "AAAA"]))
    assert response.status_code == 400
    assert not NotificationPreference.objects.exists()
    assert request(ANONYMOUS, POST, reverse("notifications:unsubscribe", args=[token])).status_code == 200
    assert list(NotificationPreference.objects.values_list("user_id", "type", "channel", "enabled")) == [
        (w.users[MEMBER].pk, "payout_sent", "email", False)
    ]


def saved_search_entries(w: World) -> list[Entry]:
    """The buyer's saved search: only its member renames or deletes it."""
    from alerts.services import saved_search_create

    saved = saved_search_create(user=w.users[BUYER], params={"q": "desk"})
    return [
        Entry(
            {"saved_search_id": saved.pk}, {ANONYMOUS, MEMBER, OWNER, STAFF}, {BUYER}, data={"name": "Desks"}
        )
    ]


def stop_alert_entries(w: World) -> list[Entry]:
    """The signed one-click link works for anyone holding it (it comes by email)."""
    from alerts.selectors import unsubscribe_token
    from alerts.services import saved_search_create

    saved = saved_search_create(user=w.users[BUYER], params={"q": "lamp"})
    return [Entry({"token": unsubscribe_token(saved)}, visible_to=EVERYONE | {BUYER})]


def follow_entries(w: World) -> list[Entry]:
    """Any member follows an active seller; a banned one is unknown to members."""
    return [
        Entry({"user_id": w.users[OWNER].pk}, visible_to={MEMBER, BUYER, STAFF}),
        Entry({"user_id": w.users["banned"].pk}, set(), {MEMBER}),
    ]


def review_of_owner(w: World, *, published: bool):
    """The buyer's review of the owner after a completed purchase, published or still hidden."""
    from django.utils import timezone

    from tests.factories import ReviewFactory, TransactionFactory

    txn = TransactionFactory(
        listing=ListingFactory(seller=w.users[OWNER], status=Listing.Status.SOLD, sold_at=timezone.now()),
        buyer=w.users[BUYER],
        status=Transaction.Status.COMPLETED,
        completed_at=timezone.now(),
    )
    return ReviewFactory(transaction=txn, published_at=timezone.now() if published else None)


def review_edit_entries(w: World) -> list[Entry]:
    """Only its author edits a review, and only before publication (after it, a refusal)."""
    hidden = review_of_owner(w, published=False)
    data = {"rating": "4", "comment": "Edited"}
    return [Entry({"review_id": hidden.pk}, EVERYONE, {BUYER}, data=data)]


def review_respond_entries(w: World) -> list[Entry]:
    """Only the reviewee responds, and only once the review is published: before, even the
    reviewee finds it exactly as an unknown one."""
    published, hidden = review_of_owner(w, published=True), review_of_owner(w, published=False)
    data = {"response": "Thank you"}
    return [
        Entry({"review_id": hidden.pk}, EVERYONE | {BUYER}, data=data),
        Entry({"review_id": published.pk}, {ANONYMOUS, MEMBER, STAFF, BUYER}, {OWNER}, data=data),
    ]


def review_flag_entries(w: World) -> list[Entry]:
    """Any member may flag a published review (its author is told they may not); an unpublished
    one is unknown to all but its author."""
    published, hidden = review_of_owner(w, published=True), review_of_owner(w, published=False)
    data = {"reason": "spam"}
    return [
        Entry({"review_id": hidden.pk}, EVERYONE, data=data),
        Entry({"review_id": published.pk}, {ANONYMOUS}, {MEMBER, OWNER, STAFF, BUYER}, data=data),
    ]


def report_entries(w: World) -> list[Entry]:
    """The report page of a listing: as its page, anonymous visitors are sent to log in."""

    def of(name):
        return {"target_type": "listing", "object_id": str(w[name].pk)}

    return [
        Entry(of("public"), {ANONYMOUS}, {MEMBER, OWNER, STAFF}),
        *(Entry(of(name), {ANONYMOUS, MEMBER}, {OWNER, STAFF}) for name in HIDDEN_LISTINGS),
        Entry(of("banned_sellers"), {ANONYMOUS, MEMBER, OWNER}, {STAFF}),
    ]


def sitemap_listing_slugs_are_public(w: World, request) -> None:
    body = request(ANONYMOUS, "get", reverse("sitemap-section", args=["listings"])).content.decode()
    assert w["public"].slug in body
    for name in (*HIDDEN_LISTINGS, "unlisted_draft", "banned_sellers"):
        assert w[name].slug not in body, name


def verify_email_entries(w: World) -> list[Entry]:
    user = w.users["unverified"]
    token = email_verification_token(user=user)
    return [
        Entry({"token": token[:-4] + "AAAA"}, hidden_from={ANONYMOUS, MEMBER}),  # tampered
        Entry({"token": token}, visible_to={ANONYMOUS}),
    ]


def email_change_entries(w: World) -> list[Entry]:
    url = email_change_url(user=w.users[MEMBER], email="moved@example.com", base_url="http://testserver")
    token = url.rstrip("/").rsplit("/", 1)[1]
    return [
        Entry({"token": token[:-4] + "AAAA"}, hidden_from={ANONYMOUS, MEMBER}),  # tampered
        Entry({"token": token}, visible_to={ANONYMOUS}),
    ]


def password_reset_entries(w: World) -> list[Entry]:
    user = w.users[MEMBER]
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return [
        Entry({"uidb64": uid, "token": "bad-token"}, hidden_from={ANONYMOUS}),
        Entry({"uidb64": uid, "token": default_token_generator.make_token(user)}, visible_to={ANONYMOUS}),
    ]


GET, POST = "get", "post"
CASES: dict[str, Case] = {
    "listings:detail": Case(GET, UNKNOWN_SLUG, listing_page_entries),
    "listings:detail_unlisted": Case(
        GET, {"slug": "no-such-listing", "share_token": "0" * 32}, unlisted_page_entries
    ),
    "listings:category": Case(
        GET, {"slug": "no-such-category"}, lambda w: [Entry({"slug": "desks"}, set(), EVERYONE)]
    ),
    "listings:favorite": Case(POST, UNKNOWN_SLUG, favorite_entries),
    "listings:unfavorite": Case(POST, UNKNOWN_SLUG, favorite_entries),
    "payments:checkout_start": Case(
        POST, UNKNOWN_SLUG, checkout_start_entries, unknown_data={"share_token": "0" * 32}
    ),
    "sell:listing_edit": Case(GET, UNKNOWN_LISTING_ID, editor_entries),
    "sell:listing_preview": Case(GET, UNKNOWN_LISTING_ID, editor_entries),
    "sell:listing_publish": Case(POST, UNKNOWN_LISTING_ID, editor_entries),
    "sell:listing_unpublish": Case(POST, UNKNOWN_LISTING_ID, editor_entries),
    "sell:listing_mark_sold": Case(POST, UNKNOWN_LISTING_ID, editor_entries),
    "sell:listing_archive": Case(POST, UNKNOWN_LISTING_ID, editor_entries),
    "sell:listing_delete": Case(POST, UNKNOWN_LISTING_ID, editor_entries),
    "sell:listing_photos": Case(GET, UNKNOWN_LISTING_ID, editor_entries),
    "sell:photo_upload": Case(POST, UNKNOWN_LISTING_ID, editor_entries),
    "sell:photo_delete": Case(POST, {**UNKNOWN_LISTING_ID, "photo_id": "nosuchphoto"}, photo_entries),
    "sell:photo_move": Case(POST, {**UNKNOWN_LISTING_ID, "photo_id": "nosuchphoto"}, photo_entries),
    "sell:photo_primary": Case(POST, {**UNKNOWN_LISTING_ID, "photo_id": "nosuchphoto"}, photo_entries),
    "payments:checkout": Case(GET, UNKNOWN_TXN, order_entries({BUYER})),
    "payments:checkout_pay": Case(POST, UNKNOWN_TXN, order_entries(set(), EVERYONE)),
    "payments:checkout_confirm": Case(POST, UNKNOWN_TXN, order_entries(set(), EVERYONE)),
    "payments:checkout_cancel": Case(POST, UNKNOWN_TXN, order_entries({BUYER})),
    "payments:order": Case(GET, UNKNOWN_TXN, order_entries({BUYER, OWNER, STAFF})),
    "payments:order_release_held_payout": Case(
        POST, UNKNOWN_TXN, order_entries({STAFF}, {ANONYMOUS, MEMBER, BUYER, OWNER})
    ),
    "payments:order_confirm_receipt": Case(POST, UNKNOWN_TXN, order_entries({BUYER})),
    "payments:order_refund": Case(POST, UNKNOWN_TXN, order_entries(set(), {ANONYMOUS, MEMBER})),
    "payments:connect_simulated": Case(
        GET,
        {"account_id": "acct_unknown"},
        lambda w: [
            Entry({"account_id": w.users[OWNER].stripe_connect_id}, {ANONYMOUS, MEMBER, STAFF}, {OWNER})
        ],
    ),
    "accounts:profile": Case(GET, {"user_id": uuid.UUID(int=3)}, profile_entries),
    "reviews:submit": Case(POST, UNKNOWN_TXN, order_entries({BUYER, OWNER, STAFF}), {"rating": "5"}),
    "reviews:edit": Case(POST, {"review_id": uuid.UUID(int=8)}, review_edit_entries, {"rating": "4"}),
    "reviews:respond": Case(
        # The same text as the entries': a placeholder replaces it in both answers alike (a short
        # one such as "Hi" also hit the member's name "Dylan Hill" in one answer only).
        POST,
        {"review_id": uuid.UUID(int=8)},
        review_respond_entries,
        {"response": "Thank you"},
    ),
    "reviews:flag": Case(POST, {"review_id": uuid.UUID(int=8)}, review_flag_entries, {"reason": "spam"}),
    "messaging:conversation": Case(GET, {"conversation_id": uuid.UUID(int=6)}, conversation_entries),
    "messaging:attachment": Case(
        GET,
        {"conversation_id": uuid.UUID(int=6), "attachment_id": "0" * 32, "size": "thumb"},
        attachment_entries,
    ),
    "messaging:archive": Case(POST, {"conversation_id": uuid.UUID(int=6)}, conversation_participant_entries),
    "messaging:unarchive": Case(
        POST, {"conversation_id": uuid.UUID(int=6)}, conversation_participant_entries
    ),
    "messaging:report": Case(POST, {"conversation_id": uuid.UUID(int=6)}, conversation_participant_entries),
    "messaging:block": Case(POST, {"conversation_id": uuid.UUID(int=6)}, conversation_participant_entries),
    "messaging:unblock": Case(POST, {"user_id": uuid.UUID(int=7)}, unblock_entries),
    "alerts:saved_search_update": Case(
        POST, {"saved_search_id": uuid.UUID(int=10)}, saved_search_entries, {"name": "Desks"}
    ),
    "alerts:saved_search_delete": Case(
        POST, {"saved_search_id": uuid.UUID(int=10)}, saved_search_entries, {"name": "Desks"}
    ),
    "alerts:saved_search_unsubscribe": Case(GET, {"token": "not-a-token"}, stop_alert_entries),
    "alerts:follow": Case(POST, {"user_id": uuid.UUID(int=11)}, follow_entries),
    "alerts:unfollow": Case(POST, {"user_id": uuid.UUID(int=11)}, follow_entries),
    "offers:make": Case(POST, UNKNOWN_SLUG, checkout_start_entries, {"share_token": "0" * 32}),
    "offers:action": Case(POST, {"offer_id": uuid.UUID(int=9), "action": "withdraw"}, offer_entries),
    "offers:floor": Case(POST, UNKNOWN_LISTING_ID, editor_entries),
    "moderation:report": Case(
        GET, {"target_type": "listing", "object_id": str(uuid.UUID(int=12))}, report_entries
    ),
    "notifications:open": Case(GET, {"notification_id": uuid.UUID(int=10)}, notification_entries),
    "notifications:mark_read": Case(POST, {"notification_id": uuid.UUID(int=10)}, notification_entries),
    "notifications:unsubscribe": Case(
        GET,
        {"token": "not-a-token"},
        unsubscribe_entries,
        also=unsubscribe_post_changes_nothing_unless_signed,
    ),
    "privacy:export_download": Case(GET, {"export_id": uuid.UUID(int=11)}, data_export_entries),
    "accounts:verify_email": Case(GET, {"token": "not-a-token"}, verify_email_entries),
    "accounts:email_change_confirm": Case(GET, {"token": "not-a-token"}, email_change_entries),
    "accounts:password_reset_confirm": Case(
        GET,
        {"uidb64": urlsafe_base64_encode(force_bytes(uuid.UUID(int=4))), "token": "bad-token"},
        password_reset_entries,
    ),
    "sitemap-section": Case(
        GET,
        {"section": "no-such-section"},
        lambda w: [Entry({"section": "listings"}, set(), EVERYONE)],
        also=sitemap_listing_slugs_are_public,
    ),
}


# --- The checks ----------------------------------------------------------------------------------
def test_every_route_with_a_parameter_has_a_case():
    routes = {name for name in routes_with_parameters() if not name.startswith("admin:")}
    assert routes - set(CASES) == set(), "add a case for each new route that takes a parameter"
    assert set(CASES) - routes == set(), "a case names a route that no longer exists"


def make_request(world: World):
    def request(viewer: str, method: str, url: str, data: dict | None = None):
        client = Client()
        if viewer != ANONYMOUS:
            client.force_login(world.users[viewer])
        return getattr(client, method)(url, data or {})

    return request


def answer(response, placeholders: dict[str, str]) -> tuple:
    """What the viewer learns: status, Location, messages and body, with the keys replaced."""

    def plain(text: str) -> str:
        # Random tokens first: a key's value may occur inside one by chance.
        text = NONCE.sub("<nonce>", CSRF.sub("<csrf>", text))
        for value, placeholder in placeholders.items():
            text = text.replace(value, placeholder)
        return text

    body = "" if response.status_code in (301, 302) or response.streaming else response.content.decode()
    notes = tuple(str(message) for message in get_messages(response.wsgi_request))
    return response.status_code, plain(response.get("Location", "")), tuple(map(plain, notes)), plain(body)


def placeholders_for(kwargs: dict, data: dict) -> dict[str, str]:
    values = {**kwargs, **{f"data_{k}": v for k, v in data.items()}}
    found = {}
    for name, value in sorted(values.items(), key=lambda item: -len(str(item[1]))):
        for text in {str(value), quote(str(value))}:
            found[text] = f"<{name}>"
    return found


@pytest.mark.parametrize("route", sorted(CASES))
def test_a_hidden_object_answers_as_an_unknown_one(route, world):
    case = CASES[route]
    request = make_request(world)
    unknown_url = reverse(route, kwargs=case.unknown)
    entries = case.entries(world)
    assert entries, route

    def unknown_answer(viewer):
        response = request(viewer, case.method, unknown_url, case.unknown_data)
        return answer(response, placeholders_for(case.unknown, case.unknown_data))

    for entry in entries:
        url = reverse(route, kwargs=entry.kwargs)
        for viewer in sorted(entry.hidden_from):
            before = snapshot()
            response = request(viewer, case.method, url, entry.data)
            seen = answer(response, placeholders_for(entry.kwargs, entry.data))
            assert seen == unknown_answer(viewer), (route, entry.kwargs, viewer)
            assert snapshot() == before, (route, entry.kwargs, viewer)
    # Those who may see the object get something else (last: their requests may change state).
    for entry in entries:
        url = reverse(route, kwargs=entry.kwargs)
        for viewer in sorted(entry.visible_to):
            response = request(viewer, case.method, url, entry.data)
            seen = answer(response, placeholders_for(entry.kwargs, entry.data))
            assert response.status_code < 500, (route, viewer)
            assert seen != unknown_answer(viewer), (route, entry.kwargs, viewer)
    if case.also:
        case.also(world, request)


ADMIN_SAMPLES = {"app_label": "listings", "url": "no-such-page/", "content_type_id": "1"}


def admin_paths(world: World) -> list[str]:
    """A concrete path for every admin route with a parameter (an existing listing's id, and
    an unknown id, for each object route)."""
    paths = []
    for name, (route, parameters) in routes_with_parameters().items():
        if not name.startswith("admin:"):
            continue
        for object_id in (str(world["private"].pk), str(uuid.UUID(int=5))):
            if "app_label" in parameters:
                path = "admin/listings/"
            elif "url" in parameters:
                path = "admin/no-such-page/"
            else:
                path = re.sub(
                    r"<(?:\w+:)?(\w+)>",
                    lambda match, oid=object_id: ADMIN_SAMPLES.get(match.group(1), oid),
                    route,
                )
            paths.append("/" + path)
    return sorted(set(paths))


@pytest.mark.parametrize("viewer", [ANONYMOUS, MEMBER])
def test_every_admin_route_sends_non_staff_to_the_admin_login(viewer, world):
    request = make_request(world)
    paths = admin_paths(world)
    assert len(paths) > 20
    for path in paths:
        response = request(viewer, GET, path)
        assert response.status_code == 302, path
        assert response["Location"] == f"{reverse('admin:login')}?next={quote(path)}", path


# --- The input, spelled out --------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["unlisted", "private", "draft", "unlisted_draft", "archived", "banned_sellers"]
)
def test_checkout_of_a_listing_the_buyer_cannot_see_is_404_and_reserves_nothing(client, world, name):
    client.force_login(world.users[MEMBER])
    response = client.post(reverse("payments:checkout_start", args=[world[name].slug]))
    assert response.status_code == 404
    assert client.post(reverse("payments:checkout_start", args=["no-such-listing"])).status_code == 404
    assert not Transaction.objects.filter(listing=world[name]).exists()
    assert Listing.objects.get(pk=world[name].pk).status == world[name].status


def test_the_buy_form_of_an_unlisted_listing_carries_its_token(client, world):
    listing = world["unlisted"]
    client.force_login(world.users[MEMBER])
    share_url = reverse("listings:detail_unlisted", args=[listing.slug, listing.share_token])
    page = client.get(share_url).content.decode()
    assert f'<input type="hidden" name="share_token" value="{listing.share_token}">' in page
    response = client.post(
        reverse("payments:checkout_start", args=[listing.slug]), {"share_token": listing.share_token}
    )
    txn = Transaction.objects.get(listing=listing)
    assert response["Location"] == reverse("payments:checkout", args=[txn.pk])
    # A refusal sends the buyer back to the page they came from: the share URL.
    client.force_login(UserFactory())
    refused = client.post(
        reverse("payments:checkout_start", args=[listing.slug]), {"share_token": listing.share_token}
    )
    assert refused.status_code == 302 and refused["Location"] == share_url
    # A public listing's form has no token.
    public_page = client.get(world["public"].get_absolute_url()).content.decode()
    assert 'name="share_token"' not in public_page


def test_a_wrong_token_is_no_token(client, world):
    client.force_login(world.users[MEMBER])
    response = client.post(
        reverse("payments:checkout_start", args=[world["unlisted"].slug]),
        {"share_token": secrets.token_urlsafe(16)},
    )
    assert response.status_code == 404
    assert not Transaction.objects.filter(listing=world["unlisted"]).exists()


def _socket_answer(path: str, user) -> tuple:
    """The handshake's outcome for ``user`` (None: anonymous): (accepted, close code)."""
    from asgiref.sync import async_to_sync, sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.conf import settings

    async def attempt():
        headers = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1")]
        if user is not None:

            def cookie():
                client = Client()
                client.force_login(user)
                return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

            headers.append((b"cookie", (await sync_to_async(cookie)()).encode()))
        socket = WebsocketCommunicator(asgi_application, path, headers=headers)
        result = await socket.connect()
        await socket.disconnect()
        return result

    return async_to_sync(attempt)()


def _conversation_socket_case() -> None:
    """ws/messages/<conversation_id>/: the two participants and staff are let in (the page's
    ``access_conversation``); anonymous is refused as such (4401); another member is answered
    exactly as for an unknown conversation (4404)."""
    from messaging.services import conversation_open

    buyer, seller, other, staff = UserFactory(), SellerFactory(), UserFactory(), UserFactory(is_staff=True)
    conversation, _ = conversation_open(buyer=buyer, seller=seller)
    path, unknown = f"/ws/messages/{conversation.pk}/", f"/ws/messages/{uuid.uuid4()}/"
    answers = {who: _socket_answer(path, user) for who, user in [
        (ANONYMOUS, None), (MEMBER, other), (BUYER, buyer), (OWNER, seller), (STAFF, staff)
    ]}  # fmt: skip
    assert answers == {
        ANONYMOUS: (False, 4401),
        MEMBER: (False, 4404),
        BUYER: (True, None),
        OWNER: (True, None),
        STAFF: (True, None),
    }
    assert _socket_answer(unknown, other) == answers[MEMBER]


WEBSOCKET_CASES: dict[str, Callable[[], None]] = {
    "ws/messages/<uuid:conversation_id>/": _conversation_socket_case,
}


@pytest.mark.django_db(transaction=True)  # the consumer reads on connections of its own
@pytest.mark.parametrize("route", sorted(WEBSOCKET_CASES))
def test_a_websocket_route_lets_in_exactly_those_its_page_lets_in(route):
    from tests.channels import fresh_channel_layer
    from tests.messaging.test_consumers import close_socket_threads

    try:
        with fresh_channel_layer():  # bound to an event loop: a fresh one
            WEBSOCKET_CASES[route]()
    finally:
        close_socket_threads()


def test_every_websocket_route_with_a_parameter_needs_a_case_too():
    """Live features add WebSocket routes; one that takes an id must check access the same way
    (the consumer calls the view's ``access_*`` helper) and get a case here first."""
    from marketplace.routing import websocket_urlpatterns

    with_parameters = {str(route.pattern) for route in websocket_urlpatterns if _parameters(route.pattern)}
    assert with_parameters == set(WEBSOCKET_CASES)
