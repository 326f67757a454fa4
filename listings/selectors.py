"""Reads of listings: public pages, favorites, the seller's dashboard and editor. The category
tree is ``listings.categories``; the lifecycle rules are ``listings.lifecycle``."""

import functools
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connections, router
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from listings.categories import attribute_schema_for, category_tree
from listings.lifecycle import PUBLISHED_STATUSES, seller_listing_actions
from listings.models import Favorite, Listing, ListingStatus, ListingVisibility
from marketplace.pagination import StatusTab, newest_first_page


def public_listings() -> QuerySet[Listing]:
    """Listings anyone may find: active, public, and not sold by a banned account.

    The banned-seller rule is the listing's ``seller_banned`` column, kept by the database
    from the seller's account status (listings migration 0015). The search's partial indexes
    hold only the rows this filter keeps, so no query looks at the users.
    """
    return Listing.objects.filter(
        status=ListingStatus.ACTIVE, visibility=ListingVisibility.PUBLIC, seller_banned=False
    )


def featured_listings(limit: int = 8) -> list[Listing]:
    now = timezone.now()
    return list(
        public_listings()
        .filter(Q(featured=True), Q(featured_until__isnull=True) | Q(featured_until__gt=now))
        .select_related("seller", "category")
        .order_by("-published_at", "-id")[:limit]
    )


def newest_listings(limit: int = 12) -> list[Listing]:
    newest = public_listings().select_related("seller", "category").order_by("-published_at", "-id")
    return list(newest[:limit])


HOME_VERSION_KEY = "home-version"


def home_cache_version() -> str:
    """The version the home page's cached part (category tree, featured and newest listings) is
    filed under: the category tree's version (bumped on a category change and when a ban starts
    or ends), as the process's tree has it (``category_tree``: the fragment shows that tree or
    a newer one, never an older one under a newer key), and the home version (bumped by
    ``listings.services.listing_changed``: any listing published, edited, sold or taken down).
    One Redis round trip (two when the process asks for the tree's version, at most every
    ``CATEGORY_TREE_CHECK_SECONDS``). What neither covers (a feature expiring, an admin edit
    that calls no service) waits for ``HOME_CACHE_TTL``."""
    tree_version = category_tree().version
    home_version = cache.get(HOME_VERSION_KEY)
    if home_version is None:
        # A fresh value, never one an old fragment was filed under before the key was lost.
        cache.add(HOME_VERSION_KEY, time.time_ns(), timeout=VERSION_TTL)
        home_version = cache.get(HOME_VERSION_KEY)
    return f"c{tree_version}.h{home_version}"


def seller_public_listings(*, seller_id, limit: int) -> tuple[list[Listing], bool]:
    """The newest of the seller's public active listings (category joined), and whether there
    are more: one query (the public profile)."""
    rows = list(
        public_listings()
        .filter(seller_id=seller_id)
        .select_related("category")
        .order_by("-published_at", "-id")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit


# --- Listing page ----------------------------------------------------------------------
LISTING_VERSION_KEY = "listing-version:{id}"
SELLER_VERSION_KEY = "seller-version:{id}"
# A version key that expired is re-created with a fresh value, so this only bounds memory.
VERSION_TTL = 60 * 60 * 24 * 30


def listing_visible_to(listing: Listing, viewer, share_token: str | None = None) -> bool:
    """Whether ``viewer`` may see ``listing`` (``listing.seller`` loaded).

    Staff see everything (moderation); the owner sees every status and visibility; others
    see published public listings, and published unlisted ones with the right share token.
    A banned seller's listings are gone for everyone but staff. A share token that does not
    match is refused even where the listing would be visible without one.
    """
    if share_token is not None and not secrets.compare_digest(
        share_token.encode(), listing.share_token.encode()
    ):
        return False
    if viewer.is_staff and viewer.is_active:
        return True
    if listing.seller_banned:
        return False
    if viewer.is_authenticated and viewer.pk == listing.seller_id:
        return True
    if listing.status not in PUBLISHED_STATUSES:
        return False
    if listing.visibility == ListingVisibility.PUBLIC:
        return True
    return listing.visibility == ListingVisibility.UNLISTED and share_token is not None


def listing_is_public(listing: Listing) -> bool:
    """Reachable by anyone at its slug URL (so indexable and favoritable)."""
    return (
        listing.status in PUBLISHED_STATUSES
        and listing.visibility == ListingVisibility.PUBLIC
        and not listing.seller_banned
    )


def listing_for_viewer(
    *, slug: str, viewer, share_token: str | None = None, member_annotations: dict | None = None
) -> Listing:
    """The listing at ``slug`` if ``viewer`` may see it, else ``Http404`` (never 403: a
    hidden listing does not exist). One query: seller and category joined, and for a
    signed-in viewer ``viewer_favorited`` annotated, with ``member_annotations`` (name to
    expression: a higher app's per-viewer state, such as the follow state) beside it."""
    listings = Listing.objects.select_related("seller", "category").defer("search_vector")
    if viewer.is_authenticated:
        listings = listings.annotate(
            viewer_favorited=Exists(Favorite.objects.filter(user_id=viewer.pk, listing_id=OuterRef("pk"))),
            **(member_annotations or {}),
        )
    try:
        listing = listings.get(slug=slug)
    except Listing.DoesNotExist:
        raise Http404("No such listing.") from None
    if not listing_visible_to(listing, viewer, share_token):
        raise Http404("No such listing.")
    if not viewer.is_authenticated:
        listing.viewer_favorited = False
    return listing


# What a visitor's cached listing page reads of its listing (``listings.views.detail``): the
# access rule's fields (``listing_visible_to``), the page cache's key (``updated_at``, the
# favorite counter) and the analytics event's category.
VISITOR_STAMP_FIELDS = (
    "id",
    "slug",
    "seller_id",
    "category_id",
    "status",
    "visibility",
    "seller_banned",
    "share_token",
    "updated_at",
    "favorite_count",
)


def listing_visitor_stamp(slug: str) -> Listing | None:
    """The listing at ``slug`` as far as a visitor's cached page needs it, or None.

    ``VISITOR_STAMP_FIELDS`` loaded (any other field is deferred: reading one is a query), its
    seller with ``updated_at`` only and its category with ``slug`` only. One plain-SQL query on
    the read database: building ``listing_for_viewer``'s three-table query through the ORM
    cost 0.7 ms of CPU per page view, four times the query's own (bench/README.md, "HTTP,
    fifth session"). It checks nothing: the caller applies ``listing_visible_to``.
    """
    from accounts.models import User
    from listings.models import Category

    alias = router.db_for_read(Listing)
    names, sql = _visitor_stamp_sql(alias)
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(sql, [slug])
        row = cursor.fetchone()
    if row is None:
        return None
    *values, seller_updated_at, category_slug = row
    listing = Listing.from_db(alias, names, values)
    Listing.seller.field.set_cached_value(
        listing, User.from_db(alias, ["id", "updated_at"], [listing.seller_id, seller_updated_at])
    )
    Listing.category.field.set_cached_value(
        listing, Category.from_db(alias, ["id", "slug"], [listing.category_id, category_slug])
    )
    return listing


@functools.cache
def _visitor_stamp_sql(alias: str) -> tuple[list[str], str]:
    """``listing_visitor_stamp``'s loaded field names and its query on ``alias``, built from
    the models' metadata once per process (quoting every name again cost 30 µs a view)."""
    from accounts.models import User
    from listings.models import Category

    quote = connections[alias].ops.quote_name

    def column(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    # In the model's field order: Model.from_db fills the fields it is given in that order.
    names = [
        field.attname for field in Listing._meta.concrete_fields if field.attname in VISITOR_STAMP_FIELDS
    ]
    listing_columns = ", ".join(f"l.{column(Listing, name)}" for name in names)
    sql = (
        f"SELECT {listing_columns}, u.{column(User, 'updated_at')}, c.{column(Category, 'slug')} "  # noqa: S608 - names from _meta
        f"FROM {quote(Listing._meta.db_table)} l "
        f"JOIN {quote(User._meta.db_table)} u ON u.{column(User, 'id')} = l.{column(Listing, 'seller')} "
        f"JOIN {quote(Category._meta.db_table)} c "
        f"ON c.{column(Category, 'id')} = l.{column(Listing, 'category')} "
        f"WHERE l.{column(Listing, 'slug')} = %s"
    )
    return names, sql


def listing_share_url(listing: Listing) -> str:
    return reverse("listings:detail_unlisted", args=[listing.slug, listing.share_token])


def listing_page_cache_key(listing: Listing) -> str:
    """The key of the listing page's shared fragment (``listing.seller`` loaded).

    Versions are read before anything else of the fragment (reviews, category tree), so a
    bump that lands while a fragment is being built files it under the old key. The
    rows' ``updated_at`` is part of the key too: any UPDATE of the listing or of the seller
    (including the review trigger's rating update, or an admin edit that calls no service)
    moves the key even without a version bump.
    """
    keys = [LISTING_VERSION_KEY.format(id=listing.pk), SELLER_VERSION_KEY.format(id=listing.seller_id)]
    # The tree's version as the process's tree has it (category_tree): the fragment is built
    # with that tree or a newer one, never an older one under a newer key.
    tree_version = category_tree().version
    found = cache.get_many(keys)
    for key in keys:
        if key not in found:
            # A fresh value, never one used before the key was evicted or expired.
            cache.add(key, time.time_ns(), timeout=VERSION_TTL)
            found[key] = cache.get(key)
    listing_version, seller_version = (found[key] for key in keys)
    stamps = f"{int(listing.updated_at.timestamp() * 1e6)}.{int(listing.seller.updated_at.timestamp() * 1e6)}"
    return f"listing-page:{listing.pk}:v{listing_version}:s{seller_version}:c{tree_version}:u{stamps}"


@dataclass
class AttributeRow:
    label: str
    value: str


@dataclass
class ListingPageData:
    """What the shared (cached) part of a listing page shows beyond the listing row and its
    seller. (The seller's reviews on it are read by the view from ``reviews.selectors``: a
    higher layer.)"""

    breadcrumbs: list  # CategoryNode or Category, root first, the listing's own last
    attributes: list[AttributeRow]
    images: list[dict]


def _format_number(value: int | float) -> str:
    """Thousands separators from five digits on: a year reads 2017, a mileage 95,100."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    grouping = "," if abs(value) >= 10_000 else ""
    if isinstance(value, int):
        return f"{value:{grouping}}"
    return f"{Decimal(str(value)):{grouping}f}"


def listing_attribute_rows(listing: Listing, schema: list[dict]) -> list[AttributeRow]:
    """The listing's attributes in schema order, labelled and with units; values the schema
    does not type (or of the wrong type) are left out rather than shown raw."""
    rows = []
    values = listing.attributes if isinstance(listing.attributes, dict) else {}
    for attribute in schema:
        value = values.get(attribute.get("key"))
        if value is None or value == "":
            continue
        kind = attribute.get("type")
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            text = _format_number(value)
            if attribute.get("unit"):
                text = f"{text} {attribute['unit']}"
        elif kind == "boolean":
            if not isinstance(value, bool):
                continue
            text = "Yes" if value else "No"
        else:
            if not isinstance(value, str | int | float):
                continue
            text = str(value)
        rows.append(AttributeRow(label=attribute.get("label") or attribute.get("key", ""), value=text))
    return rows


def image_url(url: str) -> str | None:
    if url.startswith(("https://", "http://", "/")) and not url.startswith("//"):
        return url
    if ":" in url or url.startswith("//"):
        return None  # other schemes (javascript:, data:) and protocol-relative hosts
    return default_storage.url(url)


def listing_images(listing: Listing) -> list[dict]:
    """``[{"url", "thumb_url", "alt"}]``, the primary image first and no image twice.

    ``images`` holds photo objects (``{"id", "url", "thumb_url", "path", ...}``, see
    ``listings.photos``); older rows may hold plain URL strings or ``{"url", "alt"}`` objects,
    whose ``thumb_url`` is their ``url``.
    """
    entries = [{"url": listing.primary_image_url}] if listing.primary_image_url else []
    for image in listing.images if isinstance(listing.images, list) else []:
        if isinstance(image, str):
            entries.append({"url": image})
        elif isinstance(image, dict) and isinstance(image.get("url"), str):
            entries.append(image)
    images, seen = [], {}
    for entry in entries:
        url = image_url(entry["url"].strip())
        if not url:
            continue
        thumb = entry.get("thumb_url")
        thumb_url = (image_url(thumb.strip()) if isinstance(thumb, str) and thumb.strip() else None) or url
        alt = entry.get("alt") if isinstance(entry.get("alt"), str) else ""
        if url in seen:  # the primary URL, listed again as a photo: keep the photo's details
            image = seen[url]
            if image["thumb_url"] == url:
                image["thumb_url"] = thumb_url
            image["alt"] = image["alt"] or alt
            continue
        seen[url] = {"url": url, "thumb_url": thumb_url, "alt": alt}
        images.append(seen[url])
    return images


def listing_page_data(listing: Listing) -> ListingPageData:
    """The listing's part of a listing page's shared fragment: no query beyond the cached
    category tree (``listing.category`` loaded)."""
    node = category_tree().by_id.get(str(listing.category_id))
    if node is None:  # a category newer than the cached tree
        breadcrumbs, schema = [listing.category], list(listing.category.attribute_schema or [])
    else:
        breadcrumbs, schema = [*category_tree().ancestors(node), node], attribute_schema_for(node)
    return ListingPageData(
        breadcrumbs=breadcrumbs,
        attributes=listing_attribute_rows(listing, schema),
        images=listing_images(listing),
    )


# --- Favorites -------------------------------------------------------------------------
FAVORITES_PAGE_SIZE = 24
FAVORITES_CURSOR_SALT = "listings.favorites.cursor"


@dataclass
class FavoritesPage:
    favorites: list[Favorite]
    next_cursor: str | None
    cursor_invalid: bool = False


def favorites_page(*, user, cursor: str | None = None, limit: int = FAVORITES_PAGE_SIZE) -> FavoritesPage:
    """The user's favorites, newest first, keyset-paginated on (created_at, id), both
    descending. One query whatever the page holds. Only listings the user can still reach
    at their public URL are shown: reserved and sold ones stay (the card marks them);
    listings made private, unlisted, draft or archived, or whose seller was banned, drop out.
    """
    favorites = Favorite.objects.filter(
        user_id=user.pk,
        listing__status__in=PUBLISHED_STATUSES,
        listing__visibility=ListingVisibility.PUBLIC,
        listing__seller_banned=False,
    ).select_related("listing", "listing__category")
    page = newest_first_page(
        favorites, field="created_at", cursor=cursor, salt=FAVORITES_CURSOR_SALT, limit=limit
    )
    return FavoritesPage(
        favorites=page.rows, next_cursor=page.next_cursor, cursor_invalid=page.cursor_invalid
    )


def listing_favorite_count(listing_id) -> int:
    """The trigger-kept count, read fresh (after a favorite was added or removed)."""
    return Listing.objects.filter(pk=listing_id).values_list("favorite_count", flat=True).first() or 0


# --- Seller dashboard ------------------------------------------------------------------
SELLER_DASHBOARD_PAGE_SIZE = 20
SELLER_DASHBOARD_CURSOR_SALT = "listings.seller-dashboard.cursor"
SELLER_DASHBOARD_DEFAULT_STATUS = ListingStatus.ACTIVE


@dataclass
class SellerDashboard:
    status: str
    tabs: list[StatusTab]
    listings: list[Listing]  # each with ``actions``, from ``seller_listing_actions``
    next_cursor: str | None
    cursor_invalid: bool = False

    @property
    def total(self) -> int:
        return sum(tab.count for tab in self.tabs)


def seller_listing_counts(*, seller) -> dict[str, int]:
    """The seller's listings per status, every status present: one aggregate query."""
    return Listing.objects.filter(seller_id=seller.pk).aggregate(
        **{status.value: Count("pk", filter=Q(status=status)) for status in ListingStatus}
    )


def seller_dashboard(
    *, seller, status: str | None = None, cursor: str | None = None, limit: int = SELLER_DASHBOARD_PAGE_SIZE
) -> SellerDashboard:
    """One page of the seller's own listings of one status (an unknown status means active),
    with the count of every status. Two queries whatever the page holds: the counts, and the
    page with its category joined.

    Keyset-paginated on (updated_at, id), both descending; the cursor is signed and names
    its status. ``updated_at`` moves on every UPDATE of the row (the ``set_updated_at``
    trigger, counter writes included), so a listing changed between two page loads can
    move to the first page; it is never shown twice on one page.
    """
    if status not in ListingStatus.values:
        status = SELLER_DASHBOARD_DEFAULT_STATUS
    status = ListingStatus(status)
    counts = seller_listing_counts(seller=seller)
    listings = (
        Listing.objects.filter(seller_id=seller.pk, status=status)
        .select_related("category")
        .defer(
            "description",
            "attributes",
            "images",
            "videos",
            "search_vector",
            "meta_title",
            "meta_description",
            "category__attribute_schema",
        )
    )
    page = newest_first_page(
        listings,
        field="updated_at",
        cursor=cursor,
        salt=SELLER_DASHBOARD_CURSOR_SALT,
        limit=limit,
        scope=status.value,
    )
    rows, next_cursor, cursor_invalid = page.rows, page.next_cursor, page.cursor_invalid
    for listing in rows:
        listing.actions = seller_listing_actions(listing)
    tabs = [
        StatusTab(choice.value, choice.label, count=counts[choice.value], current=choice == status)
        for choice in ListingStatus
    ]
    return SellerDashboard(
        status=status.value, tabs=tabs, listings=rows, next_cursor=next_cursor, cursor_invalid=cursor_invalid
    )


# --- Listing editor --------------------------------------------------------------------
def access_listing_for_edit(*, user, listing_id) -> Listing:
    """The user's own listing ``listing_id``, category joined, or ``Http404``: another
    user's listing answers exactly like one that does not exist, so ids do not leak.
    One query; ``listing.seller`` is ``user`` itself (no second query for it)."""
    if not user.is_authenticated:
        raise Http404("No such listing.")
    try:
        listing = (
            Listing.objects.select_related("category")
            .defer("search_vector")
            .get(pk=listing_id, seller_id=user.pk)
        )
    except Listing.DoesNotExist:
        raise Http404("No such listing.") from None
    listing.seller = user
    return listing
