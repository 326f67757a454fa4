"""The seller's photo page: upload several photos at once, reorder, make primary, delete.

Every action is a plain POST form (no JavaScript needed) that redirects back to the page.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils.text import Truncator
from django.views.decorators.http import require_POST, require_safe

from listings.photos import (
    ACCEPT_ATTRIBUTE,
    listing_photos_for_page,
    photo_add_many,
    photo_change_refusal,
    photo_delete,
    photo_make_primary,
    photo_move,
)
from listings.selectors import access_listing_for_edit
from marketplace.errors import ErrorCode, ServiceError


def _back(listing_id):
    return redirect("sell:listing_photos", listing_id=listing_id)


@login_required
@require_safe
def page(request, listing_id):
    listing = access_listing_for_edit(user=request.user, listing_id=listing_id)
    return _page(request, listing)


def _page(request, listing, *, status: int = 200):
    photos = listing_photos_for_page(listing)
    limit = settings.LISTING_MAX_PHOTOS
    return render(
        request,
        "sell/photos.html",
        {
            "listing": listing,
            "photos": photos,
            "max_photos": limit,
            "remaining": max(0, limit - len(photos)),
            "refusal": photo_change_refusal(listing=listing, actor=request.user),
            "accept": ACCEPT_ATTRIBUTE,
            "max_upload": filesizeformat(settings.LISTING_PHOTO_MAX_UPLOAD_BYTES),
        },
        status=status,
    )


@login_required
@require_POST
def upload(request, listing_id):
    listing = access_listing_for_edit(user=request.user, listing_id=listing_id)
    uploads = request.FILES.getlist("photos")
    if not uploads:
        messages.error(request, "Choose one or more photos to upload.")
        return _back(listing.pk)
    result = photo_add_many(listing=listing, actor=request.user, uploads=uploads)
    if result.added:
        count = len(result.added)
        messages.success(request, f"Added {count} photo{'' if count == 1 else 's'}.")
    for name, reason in result.refused:
        messages.error(request, f"“{Truncator(name).chars(80)}” was not added: {reason}")
    if result.error:
        messages.error(request, result.error)
    if result.error_code == ErrorCode.IMAGE_BUSY:  # the page itself says so, as 429
        response = _page(request, listing, status=429)
        response["Retry-After"] = "30"
        return response
    return _back(listing.pk)


def _change(request, listing, action, success: str, **kwargs):
    try:
        action(listing=listing, actor=request.user, **kwargs)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)
    return _back(listing.pk)


@login_required
@require_POST
def delete(request, listing_id, photo_id: str):
    listing = access_listing_for_edit(user=request.user, listing_id=listing_id)
    return _change(request, listing, photo_delete, "The photo was deleted.", photo_id=photo_id)


@login_required
@require_POST
def move(request, listing_id, photo_id: str):
    listing = access_listing_for_edit(user=request.user, listing_id=listing_id)
    try:
        position = int(request.POST.get("position", ""))
    except ValueError:
        messages.error(request, "Choose where to move the photo.")
        return _back(listing.pk)
    return _change(request, listing, photo_move, "The photo was moved.", photo_id=photo_id, position=position)


@login_required
@require_POST
def primary(request, listing_id, photo_id: str):
    listing = access_listing_for_edit(user=request.user, listing_id=listing_id)
    return _change(
        request, listing, photo_make_primary, "That photo is now the first one.", photo_id=photo_id
    )
