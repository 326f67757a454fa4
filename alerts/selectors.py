"""Reads for saved searches and follows."""

from django.core import signing
from django.db.models import Exists, OuterRef
from django.http import Http404

from alerts.models import Follow, SavedSearch
from listings.selectors import public_listings
from marketplace.pagination import KeysetPage, newest_first_page

UNSUBSCRIBE_SALT = "alerts.saved_search.unsubscribe"
FEED_PAGE_SIZE = 24


def saved_searches_of(user) -> list[SavedSearch]:
    """The member's saved searches, newest first (at most ``SAVED_SEARCHES_MAX``). One query."""
    return list(SavedSearch.objects.filter(user_id=user.pk).order_by("-created_at").defer("keywords"))


def access_saved_search(*, user, saved_search_id) -> SavedSearch:
    """The member's own saved search, or ``Http404`` (someone else's does not exist)."""
    saved = None
    if user.is_authenticated:
        saved = SavedSearch.objects.filter(pk=saved_search_id, user_id=user.pk).defer("keywords").first()
    if saved is None:
        raise Http404("No such saved search.")
    return saved


def unsubscribe_token(saved_search: SavedSearch) -> str:
    """The signed token of the one-click "stop this alert" link in an alert email."""
    return signing.dumps(str(saved_search.pk), salt=UNSUBSCRIBE_SALT)


def saved_search_for_token(token: str) -> SavedSearch:
    """The saved search a token names, or ``Http404`` for a tampered or foreign token."""
    try:
        saved_search_id = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        raise Http404("This link is not valid.") from None
    saved = SavedSearch.objects.filter(pk=saved_search_id).defer("keywords").first()
    if saved is None:
        raise Http404("This link is not valid.")
    return saved


def _follows(viewer, seller_id):
    """The follow of ``seller_id`` (an id or an outer reference) by ``viewer``: the one rule
    both readers below ask."""
    return Follow.objects.filter(follower_id=viewer.pk, seller_id=seller_id)


def follows_listing_seller(viewer) -> Exists:
    """Whether ``viewer`` (a member) follows the seller of the outer query's listing: an
    expression to annotate that query with, so the listing page reads it with the listing."""
    return Exists(_follows(viewer, OuterRef("seller_id")))


def is_following(viewer, seller_id) -> bool:
    """One query for a member; none for a visitor or the seller themself."""
    if not viewer.is_authenticated or viewer.pk == seller_id:
        return False
    return _follows(viewer, seller_id).exists()


def following_feed(*, user, cursor: str | None, limit: int = FEED_PAGE_SIZE) -> KeysetPage:
    """New listings of the sellers ``user`` follows, newest first, keyset pages on
    (published_at, id). One query for the page (the sellers and categories joined)."""
    followed = Follow.objects.filter(follower_id=user.pk, seller_id=OuterRef("seller_id"))
    listings = (
        public_listings()
        .filter(Exists(followed), published_at__isnull=False)
        .select_related("seller", "category")
        .defer("search_vector")
    )
    return newest_first_page(listings, field="published_at", cursor=cursor, salt="alerts.feed", limit=limit)


def followed_sellers(user) -> list[Follow]:
    return list(Follow.objects.filter(follower_id=user.pk).select_related("seller").order_by("-created_at"))
