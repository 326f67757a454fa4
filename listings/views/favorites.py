"""Favorites: save and unsave (forms without JavaScript, JSON for fetch), and "My favorites"."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from analytics.tracking import EventName, track
from listings.analytics import listing_event_properties
from listings.selectors import favorites_page, listing_favorite_count, listing_for_viewer
from listings.services import favorite_add, favorite_remove
from marketplace.errors import ServiceError


def _wants_json(request) -> bool:
    """fetch() asks for JSON first; a browser's form post asks for HTML first."""
    accept = request.headers.get("Accept", "")
    return accept.split(",")[0].split(";")[0].strip() == "application/json"


def _next_url(request, fallback: str) -> str:
    url = request.POST.get("next", "")
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return fallback


def _change_favorite(request, slug: str, *, add: bool):
    listing = listing_for_viewer(slug=slug, viewer=request.user)
    try:
        if add:
            favorite_add(user=request.user, listing=listing)
        else:
            favorite_remove(user=request.user, listing=listing)
    except ServiceError as error:
        raise Http404(error.message) from error
    name = EventName.FAVORITE_ADDED if add else EventName.FAVORITE_REMOVED
    track(request, name, **listing_event_properties(listing))
    if _wants_json(request):
        return JsonResponse({"favorited": add, "favorite_count": listing_favorite_count(listing.pk)})
    if add:
        messages.success(request, f"“{listing.title}” is in your favorites.")
    else:
        messages.success(request, f"“{listing.title}” is no longer in your favorites.")
    return redirect(_next_url(request, listing.get_absolute_url()))


@login_required
@require_POST
def favorite(request, slug: str):
    return _change_favorite(request, slug, add=True)


@login_required
@require_POST
def unfavorite(request, slug: str):
    return _change_favorite(request, slug, add=False)


@login_required
@require_safe
def favorite_list(request):
    page = favorites_page(user=request.user, cursor=request.GET.get("cursor"))
    return render(request, "listings/favorites.html", {"page": page})
