"""Seller onboarding to Stripe Connect: start, Stripe's return and refresh URLs, and the
simulated onboarding page of test mode. Thin views over ``payments.connect``."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.errors import ServiceError
from payments.connect import (
    seller_connect_account_create,
    seller_connect_link,
    seller_connect_simulated_complete,
    seller_payout_status,
)


def _to_onboarding(request, user):
    link = seller_connect_link(
        user=user,
        refresh_url=request.build_absolute_uri(reverse("payments:connect_refresh")),
        return_url=request.build_absolute_uri(reverse("payments:connect_return")),
    )
    return redirect(link.url)


def _refused(request, error: ServiceError):
    messages.error(request, error.message)
    return redirect(f"{reverse('sell:start')}#payouts")


@login_required
@require_POST
def connect_start(request):
    try:
        user = seller_connect_account_create(user=request.user)
        return _to_onboarding(request, user)
    except ServiceError as error:  # not a seller, or Stripe could not be asked
        return _refused(request, error)


@login_required
@require_GET
def connect_refresh(request):
    """Stripe sends the seller here when a link expired or was used: make a new one."""
    try:
        return _to_onboarding(request, request.user)
    except ServiceError as error:
        return _refused(request, error)


@login_required
@require_GET
def connect_return(request):
    """Stripe sends the seller back here; the account's status is read afresh."""
    if not request.user.stripe_connect_id:
        return redirect(f"{reverse('sell:start')}#payouts")
    status = seller_payout_status(user=request.user, fresh=True)
    return render(
        request,
        "payments/connect_return.html",
        {"payout_status": status, "payouts_simulated": settings.STRIPE_CONNECT_SIMULATED},
    )


@login_required
@require_http_methods(["GET", "POST"])
def connect_simulated(request, account_id: str):
    """Test mode's stand-in for Stripe's hosted onboarding; 404 with real Stripe, and for
    anyone but the account's owner."""
    if not settings.STRIPE_CONNECT_SIMULATED or request.user.stripe_connect_id != account_id:
        raise Http404
    if request.method == "POST":
        try:
            seller_connect_simulated_complete(user=request.user, account_id=account_id)
        except ServiceError as error:
            raise Http404 from error
        messages.success(request, "Test mode: onboarding completed, payouts simulated.")
        return redirect("payments:connect_return")
    return render(request, "payments/connect_simulated.html", {"account_id": account_id})
