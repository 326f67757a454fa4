"""The listing editor: create, edit, preview, and the owner's lifecycle buttons.

Thin views: ``ListingForm`` parses, ``access_listing_for_edit`` fetches and checks the
owner (404 for anyone else), the ``listing_*`` services decide and write.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.models import AccountStatus
from listings.capabilities import listing_preview_capabilities
from listings.forms import ListingForm
from listings.lifecycle import listing_is_editable, listing_owner_actions
from listings.models import Listing
from listings.selectors import access_listing_for_edit
from listings.services import (
    listing_archive,
    listing_create,
    listing_create_limit_message,
    listing_create_retry_after,
    listing_delete,
    listing_mark_sold,
    listing_publish,
    listing_unpublish,
    listing_update,
)
from listings.views.detail import listing_seo, render_shared_parts
from marketplace.errors import ErrorCode, ServiceError

EDITOR_TEMPLATE = "sell/editor.html"


def _edit_url(listing: Listing) -> str:
    return reverse("sell:listing_edit", kwargs={"listing_id": listing.pk})


def _after_create_url(listing: Listing) -> str:
    """The photos page, or the editor while the photos page does not exist."""
    try:
        return reverse("sell:listing_photos", kwargs={"listing_id": listing.pk})
    except NoReverseMatch:
        return _edit_url(listing)


def _dashboard_url() -> str:
    try:
        return reverse("sell:dashboard")
    except NoReverseMatch:
        return reverse("home")


def _next_url(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _rate_limited(request, retry_after: int):
    response = render(
        request,
        "sell/rate_limited.html",
        {"throttle_message": listing_create_limit_message(retry_after)},
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


def _editor(request, form: ListingForm, listing: Listing | None, *, refreshed: bool = False):
    return render(
        request,
        EDITOR_TEMPLATE,
        {
            "form": form,
            "listing": listing,
            "refreshed": refreshed,
            "editable": listing is None or listing_is_editable(listing),
            "actions": listing_owner_actions(listing) if listing is not None else [],
            "suspended": request.user.account_status != AccountStatus.ACTIVE,
        },
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def create(request):
    retry_after = listing_create_retry_after(seller=request.user)
    if retry_after:
        return _rate_limited(request, retry_after)
    if request.method != "POST":
        return _editor(request, ListingForm(), None)
    form = ListingForm(request.POST)
    if form.needs_refresh:
        return _editor(request, form.refreshed(), None, refreshed=True)
    if form.is_valid():
        try:
            listing = listing_create(seller=request.user, data=form.listing_data())
        except ServiceError as error:
            if error.code == ErrorCode.RATE_LIMITED:
                return _rate_limited(request, listing_create_retry_after(seller=request.user) or 60)
            form.add_error(None, error.message)
        else:
            messages.success(request, "Your draft is saved. Add photos, then publish it when you are ready.")
            return redirect(_after_create_url(listing))
    return _editor(request, form, None)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def edit(request, listing_id: uuid.UUID):
    listing = access_listing_for_edit(user=request.user, listing_id=listing_id)
    if request.method != "POST":
        return _editor(request, ListingForm(listing=listing), listing)
    form = ListingForm(request.POST, listing=listing)
    if form.needs_refresh:
        return _editor(request, form.refreshed(), listing, refreshed=True)
    if form.is_valid():
        try:
            listing_update(listing=listing, actor=request.user, data=form.listing_data())
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Your changes are saved.")
            return redirect(_edit_url(listing))
    return _editor(request, form, listing)


@login_required
@require_safe
def preview(request, listing_id: uuid.UUID):
    """The listing page as buyers will see it, rendered fresh (never from or into the page
    cache) from the same templates, under a "Preview" banner; never indexed."""
    listing = access_listing_for_edit(user=request.user, listing_id=listing_id)
    # Output of our own autoescaping templates.
    shared = {name: mark_safe(html) for name, html in render_shared_parts(listing).items()}  # noqa: S308
    context = {
        "listing": listing,
        "shared": shared,
        "seo": listing_seo(request, listing, indexable=False),
        # The buyers' view: the owner's tools are not part of it.
        "capabilities": listing_preview_capabilities(listing),
        "seller_banned": False,
        "favorited": False,
        # Buttons lead back to the banner: nothing can be bought from a preview.
        "is_preview": True,
        "buy_url": "#preview-banner",
        "contact_url": "#preview-banner",
        "edit_url": _edit_url(listing),
    }
    response = render(request, "sell/preview.html", context)
    response["X-Robots-Tag"] = "noindex"
    return response


# --- Lifecycle buttons ---------------------------------------------------------------
def _lifecycle(request, listing_id: uuid.UUID, service, success: str):
    listing = access_listing_for_edit(user=request.user, listing_id=listing_id)
    try:
        service(listing=listing, actor=request.user)
    except ServiceError as error:
        if error.code == ErrorCode.NOT_FOUND:
            raise Http404(error.message) from error
        messages.error(request, error.message)
    else:
        messages.success(request, success.format(title=listing.title))
    return redirect(_next_url(request, _edit_url(listing)))


@login_required
@require_POST
def publish(request, listing_id: uuid.UUID):
    return _lifecycle(request, listing_id, listing_publish, "“{title}” is published.")


@login_required
@require_POST
def unpublish(request, listing_id: uuid.UUID):
    return _lifecycle(
        request, listing_id, listing_unpublish, "“{title}” is unpublished: it is a draft again."
    )


@login_required
@require_POST
def mark_sold(request, listing_id: uuid.UUID):
    return _lifecycle(request, listing_id, listing_mark_sold, "“{title}” is marked as sold.")


@login_required
@require_POST
def archive(request, listing_id: uuid.UUID):
    return _lifecycle(
        request, listing_id, listing_archive, "“{title}” is archived: it is off the site for good."
    )


@login_required
@require_POST
def delete(request, listing_id: uuid.UUID):
    listing = access_listing_for_edit(user=request.user, listing_id=listing_id)
    try:
        outcome = listing_delete(listing=listing, actor=request.user)
    except ServiceError as error:
        if error.code == ErrorCode.NOT_FOUND:
            raise Http404(error.message) from error
        messages.error(request, error.message)
        return redirect(_next_url(request, _edit_url(listing)))
    if outcome == "deleted":
        messages.success(request, f"“{listing.title}” is deleted.")
        next_url = _next_url(request, _dashboard_url())
        # Its own pages are gone.
        return redirect(_dashboard_url() if str(listing.pk) in next_url else next_url)
    messages.info(
        request,
        f"“{listing.title}” was published before, so it is kept for the buyers' and your "
        "records: it is archived instead, off the site for good.",
    )
    return redirect(_next_url(request, _edit_url(listing)))
