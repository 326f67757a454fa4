"""Saved searches (save from a search page, manage, one-click stop from an email) and
following sellers (follow / unfollow, the Following feed)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from alerts import services
from alerts.models import AlertFrequency
from alerts.selectors import (
    access_saved_search,
    followed_sellers,
    following_feed,
    saved_search_for_token,
    saved_searches_of,
)
from marketplace.errors import ServiceError


def _back(request, fallback: str) -> str:
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@login_required
@require_POST
def saved_search_save(request):
    """Save the search whose query string the form carries (``query``)."""
    query = request.POST.get("query", "")
    back = _back(request, f"{reverse('listings:search')}?{query}")
    try:
        saved = services.saved_search_create(user=request.user, params=QueryDict(query))
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(back)
    messages.success(request, f"Search saved as “{saved.name}”: new listings that match will be sent to you.")
    return redirect(back)


@login_required
@require_GET
def saved_search_list(request):
    return render(
        request,
        "alerts/saved_searches.html",
        {"saved_searches": saved_searches_of(request.user), "frequencies": AlertFrequency.choices},
    )


@login_required
@require_POST
def saved_search_update(request, saved_search_id):
    saved = access_saved_search(user=request.user, saved_search_id=saved_search_id)
    try:
        services.saved_search_update(
            saved_search=saved,
            actor=request.user,
            name=request.POST.get("name"),
            alert=request.POST.get("alert"),
        )
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Saved search updated.")
    return redirect("alerts:saved_searches")


@login_required
@require_POST
def saved_search_delete(request, saved_search_id):
    saved = access_saved_search(user=request.user, saved_search_id=saved_search_id)
    services.saved_search_delete(saved_search=saved, actor=request.user)
    messages.success(request, "Saved search deleted.")
    return redirect("alerts:saved_searches")


@csrf_exempt  # the signed token is the authority (RFC 8058 one-click POST comes without a session)
@require_http_methods(["GET", "POST"])
def saved_search_unsubscribe(request, token):
    """One click from an alert email, logged in or not: GET asks, POST stops the alert."""
    saved = saved_search_for_token(token)
    if request.method == "POST":
        saved.alert = AlertFrequency.OFF
        saved.save(update_fields=["alert"])
        return render(request, "alerts/unsubscribed.html", {"saved_search": saved})
    return render(request, "alerts/unsubscribe.html", {"saved_search": saved, "token": token})


@login_required
@require_POST
def follow(request, user_id):
    seller = get_object_or_404(User, pk=user_id)
    back = _back(request, reverse("accounts:profile", args=[seller.pk]))
    try:
        services.follow_seller(follower=request.user, seller=seller, alert=request.POST.get("alert") == "on")
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"You follow {seller.display_name}: their new listings are in your Following feed."
        )
    return redirect(back)


@login_required
@require_POST
def unfollow(request, user_id):
    seller = get_object_or_404(User, pk=user_id)
    services.unfollow_seller(follower=request.user, seller=seller)
    messages.success(request, f"You no longer follow {seller.display_name}.")
    return redirect(_back(request, reverse("alerts:following")))


@login_required
@require_GET
def following(request):
    page = following_feed(user=request.user, cursor=request.GET.get("cursor"))
    return render(request, "alerts/following.html", {"page": page, "follows": followed_sellers(request.user)})
