"""The listing page: its shared part is cached in Redis, the viewer's part rendered fresh."""

from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.views.decorators.http import require_safe

from alerts.selectors import follows_listing_seller
from analytics.tracking import EventName
from listings.analytics import listing_event_properties
from listings.capabilities import listing_capabilities
from listings.models import Listing, ListingVisibility
from listings.selectors import (
    listing_for_viewer,
    listing_images,
    listing_is_public,
    listing_page_cache_key,
    listing_page_data,
    listing_share_url,
    listing_visible_to,
    listing_visitor_stamp,
)
from listings.view_counts import listing_view_record
from marketplace.db_router import replica_safe
from marketplace.page_cache import cache_visitor_page, cached_visitor_page, visitor_page_key
from offers.selectors import listing_offer_panel
from reviews.selectors import seller_latest_reviews

SHARED_PARTS = ("summary", "body")
META_DESCRIPTION_LENGTH = 160


def render_shared_parts(listing: Listing) -> dict[str, str]:
    """The shared parts rendered fresh: the listing's page data and the seller's latest
    reviews (one query; reviews are a higher layer than listings, so the page, not the
    listings selectors, brings them in)."""
    context = {
        "listing": listing,
        "seller": listing.seller,
        "page": listing_page_data(listing),
        "reviews": seller_latest_reviews(listing.seller_id),
    }
    return {name: render_to_string(f"listings/_detail_{name}.html", context) for name in SHARED_PARTS}


def shared_parts(listing: Listing, key: str | None = None) -> dict[str, str]:
    """The parts of the page every viewer sees alike, from the cache or rendered and cached.

    They are rendered without the request, so nothing per-user (CSRF token, favorite state,
    owner tools, messages) can end up in them. Nothing is read for them on a cache hit; a
    review write retires them through the seller's version key (``seller_changed``).
    """
    key = key or listing_page_cache_key(listing)
    parts = cache.get(key)
    if parts is None:
        parts = render_shared_parts(listing)
        cache.set(key, parts, settings.LISTING_PAGE_CACHE_TTL)
    # Output of our own autoescaping templates.
    return {name: mark_safe(html) for name, html in parts.items()}  # noqa: S308


def listing_seo(request, listing: Listing, *, indexable: bool) -> dict:
    description = listing.meta_description or Truncator(" ".join(listing.description.split())).chars(
        META_DESCRIPTION_LENGTH
    )
    canonical = request.build_absolute_uri(listing.get_absolute_url()) if indexable else None
    images = listing_images(listing)
    price_amount = None
    if listing.price_cents is not None:
        exponent = settings.CURRENCIES.get(listing.currency, 2)
        price_amount = f"{Decimal(listing.price_cents).scaleb(-exponent):.{exponent}f}"
    return {
        "title": listing.meta_title or listing.title,
        "description": description,
        "canonical": canonical,
        "indexable": indexable,
        "url": canonical or request.build_absolute_uri(request.path),
        "image": request.build_absolute_uri(images[0]["url"]) if images else None,
        "price_amount": price_amount,
    }


def render_listing_page(request, listing: Listing, capabilities, share_token: str | None, fragment_key: str):
    """The page rendered for this viewer around the shared fragment."""
    public = listing_is_public(listing)
    context = {
        "listing": listing,
        "shared": shared_parts(listing, fragment_key),
        "seo": listing_seo(request, listing, indexable=public and share_token is None),
        "capabilities": capabilities,
        "seller_banned": listing.seller_banned,
        "favorited": listing.viewer_favorited,
        "buy_url": reverse("payments:checkout_start", args=[listing.slug]),
        # The checkout resolves the listing by the page's own access rule: an unlisted
        # listing's Buy form carries the share token of the URL it was opened with.
        "share_token": share_token,
        "contact_url": f"{reverse('messaging:new')}?listing={listing.pk}",
        # Owner tools only: not reversed for every visitor.
        "edit_url": reverse("sell:listing_edit", args=[listing.pk]) if capabilities.is_owner else "",
        "share_url": request.build_absolute_uri(listing_share_url(listing)) if capabilities.is_owner else "",
        "offer_panel": listing_offer_panel(request.user, listing),
        "following": not capabilities.is_owner and bool(getattr(listing, "viewer_follows", False)),
    }
    response = render(request, "listings/detail.html", context)
    if not context["seo"]["indexable"]:
        response["X-Robots-Tag"] = "noindex"
    return response


def visitor_page_key_of(request, listing: Listing, fragment_key: str | None = None) -> str | None:
    """The key of a visitor's whole listing page (``marketplace.page_cache``), or None when
    this request's page is not the visitors' one. Under the fragment's key, so every version
    bump and ``updated_at`` move retires it too, and the favorite counter it shows (kept by a
    trigger that leaves ``updated_at`` alone). Not with a query string: those pages are rare,
    and each would be a key of its own."""
    if request.GET:
        return None
    fragment_key = fragment_key or listing_page_cache_key(listing)
    return visitor_page_key(request, f"{fragment_key}:f{listing.favorite_count}")


def cached_page_for_visitor(request, slug: str):
    """A visitor's page at ``slug`` from the cache, checked against the listing read fresh
    (``listing_visitor_stamp``, one plain query: a take-down or a ban is a 404 at once), or
    None when it must be rendered. Raises Http404 as ``listing_for_viewer`` does."""
    stamp = listing_visitor_stamp(slug)
    if stamp is None or not listing_visible_to(stamp, request.user):
        raise Http404("No such listing.")
    page_key = visitor_page_key_of(request, stamp)
    cached = cached_visitor_page(request, page_key) if page_key else None
    if cached is None:
        return None
    record_view(request, stamp)
    return cached[0]


def record_view(request, listing: Listing) -> None:
    """Count the view and record the analytics event (not for the owner's own views)."""
    # The view count and the event in one Redis round trip.
    event = (request, EventName.LISTING_VIEWED, listing_event_properties(listing))
    listing_view_record(listing.pk, event=event)


@replica_safe(anonymous_only=True)  # members see their own drafts, favorites, capabilities
@require_safe
def listing_detail(request, slug: str, share_token: str | None = None):
    if share_token is None and not request.user.is_authenticated and not request.GET:
        # A visitor's page is most often in the cache whole: what the hit needs is read in one
        # plain query; a miss reads the listing again below, with its seller and category.
        cached = cached_page_for_visitor(request, slug)
        if cached is not None:
            return cached
    listing = listing_for_viewer(
        slug=slug,
        viewer=request.user,
        share_token=share_token,
        # The follow state in the same query (a member's only: a visitor follows no one).
        member_annotations={"viewer_follows": follows_listing_seller(request.user)}
        if request.user.is_authenticated
        else None,
    )
    public = listing_is_public(listing)
    if share_token is not None and listing.visibility == ListingVisibility.PUBLIC and public:
        return redirect(listing.get_absolute_url())
    capabilities = listing_capabilities(request.user, listing, share_token=share_token)
    fragment_key = listing_page_cache_key(listing)
    page_key = visitor_page_key_of(request, listing, fragment_key)
    cached = cached_visitor_page(request, page_key) if page_key else None
    if cached is not None:
        response = cached[0]
    else:
        response = render_listing_page(request, listing, capabilities, share_token, fragment_key)
        if page_key:
            cache_visitor_page(
                request, page_key, response, settings.LISTING_PAGE_CACHE_TTL, headers=["X-Robots-Tag"]
            )
    if request.method == "GET" and not capabilities.is_owner:
        record_view(request, listing)
    return response
