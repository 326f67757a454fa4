"""The buyer's checkout: start a purchase, pay with Stripe.js (card Element), cancel it. The
order pages are in ``payments/order_views.py``.

Thin views over ``payments.services``: they parse, call one service, and answer; they catch
``ServiceError`` only. The card is collected by Stripe.js (``static/js/checkout.js``): it
creates a PaymentMethod and posts its id to ``checkout_pay`` (``transaction_pay``); when the
bank asks for 3-D Secure the browser runs ``confirmCardPayment`` and posts to
``checkout_confirm`` (``transaction_confirm_payment``). See ``payments/services/checkout.py``.
"""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from analytics.tracking import EventName, track
from listings.analytics import listing_event_properties
from listings.selectors import listing_for_viewer, listing_share_url
from marketplace.errors import ErrorCode, ServiceError
from payments.models import Transaction, TransactionStatus
from payments.selectors import access_transaction
from payments.services import (
    PaymentResult,
    checkout_key,
    checkout_start_retry_after,
    transaction_cancel,
    transaction_confirm_payment,
    transaction_pay,
    transaction_start,
)

Status = TransactionStatus


def _order_url(txn: Transaction) -> str:
    return reverse("payments:order", args=[txn.pk])


@login_required
@require_POST
def checkout_start(request, slug):
    """Buy now. The listing is resolved by the listing page's own access rule (the share
    token of an unlisted listing comes with the Buy form): one this buyer may not see
    answers 404, exactly like an unknown slug."""
    share_token = request.POST.get("share_token") or None
    listing = listing_for_viewer(slug=slug, viewer=request.user, share_token=share_token)
    back = listing_share_url(listing) if share_token else listing.get_absolute_url()
    try:
        txn = transaction_start(
            listing=listing,
            buyer=request.user,
            idempotency_key=checkout_key(listing=listing, buyer=request.user),
        )
    except ServiceError as error:
        if error.code == ErrorCode.RATE_LIMITED:
            response = render(
                request,
                "payments/checkout_rate_limited.html",
                {"throttle_message": error.message, "listing": listing, "listing_url": back},
                status=429,
            )
            response["Retry-After"] = str(checkout_start_retry_after())
            return response
        messages.error(request, error.message)
        return redirect(back)
    if txn.status != Status.PENDING:
        return redirect(_order_url(txn))
    track(request, EventName.CHECKOUT_STARTED, transaction=txn.pk, **listing_event_properties(listing))
    return redirect("payments:checkout", transaction_id=txn.pk)


@login_required
@require_GET
def checkout(request, transaction_id):
    txn = access_transaction(request.user, transaction_id, as_="buyer")
    if txn.status != Status.PENDING:
        return redirect(_order_url(txn))
    return render(
        request,
        "payments/checkout.html",
        {
            "txn": txn,
            "listing": txn.listing,
            "stripe_js_url": settings.STRIPE_JS_URL,
            "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        },
    )


def _json_error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"status": "error", "error": message}, status=status)


# HTTP status of a refused pay/confirm call, by error code (anything else: 409, a state conflict).
_ERROR_STATUS = {
    ErrorCode.INCOMPLETE: 400,
    ErrorCode.PAYMENT_DECLINED: 402,
    ErrorCode.PAYMENT_REFUSED: 502,
    ErrorCode.PAYMENT_UNAVAILABLE: 502,
}


def _answer(txn: Transaction, result: PaymentResult) -> JsonResponse:
    """The browser's next step, as ``static/js/checkout.js`` reads it."""
    answer = {"status": result.status, "redirect": _order_url(txn)}
    if result.status == "requires_action":
        answer["client_secret"] = result.client_secret
        answer["confirm_url"] = reverse("payments:checkout_confirm", args=[txn.pk])
    return JsonResponse(answer)


@login_required
@require_POST
def checkout_pay(request, transaction_id):
    txn = access_transaction(request.user, transaction_id, as_="buyer")
    try:
        payment_method = str(json.loads(request.body or b"{}").get("payment_method") or "")
    except (ValueError, AttributeError):
        payment_method = ""
    try:
        result = transaction_pay(transaction=txn, buyer=request.user, payment_method=payment_method)
    except ServiceError as error:
        return _json_error(error.message, status=_ERROR_STATUS.get(error.code, 409))
    return _answer(txn, result)


@login_required
@require_POST
def checkout_confirm(request, transaction_id):
    txn = access_transaction(request.user, transaction_id, as_="buyer")
    try:
        result = transaction_confirm_payment(transaction=txn, buyer=request.user)
    except ServiceError as error:
        return _json_error(error.message, status=_ERROR_STATUS.get(error.code, 409))
    return _answer(txn, result)


@login_required
@require_POST
def checkout_cancel(request, transaction_id):
    txn = access_transaction(request.user, transaction_id, as_="buyer")
    try:
        transaction_cancel(transaction=txn, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(_order_url(txn))
    messages.success(request, "Your order was cancelled; you were not charged.")
    return redirect(txn.listing.get_absolute_url() if txn.listing_id else _order_url(txn))
