"""The buyer's checkout: start a purchase, pay with Stripe.js (card Element); the buyer's
orders; the order page (buyer, seller and staff) with the seller's and staff's refund form.

Thin views over ``payments.services`` and ``payments.stripe_client``. The card is collected
by Stripe.js (``static/js/checkout.js``): it creates a PaymentMethod and posts its id to
``checkout_pay``, which creates the PaymentIntent confirmed with it; when the bank asks for
3-D Secure the browser runs ``confirmCardPayment`` and posts to ``checkout_confirm``. The
``payment_intent.succeeded`` webhook may also arrive: marking paid is idempotent.
"""

import json
import logging
import uuid
from datetime import datetime

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction as db_transaction
from django.db.models import Q
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from listings.models import Listing
from marketplace.errors import ServiceError
from marketplace.money import amount_text, format_amount, parse_amount
from payments import stripe_client
from payments.models import Transaction, TransactionStatus
from payments.refunds import ensure_can_refund, refund_issue
from payments.selectors import buyer_orders_page
from payments.services import (
    ledger_totals,
    transaction_attach_payment_intent,
    transaction_cancel,
    transaction_confirm_receipt,
    transaction_settle_payment_intent,
    transaction_start,
)

logger = logging.getLogger(__name__)

Status = TransactionStatus
STRIPE_DOWN_MESSAGE = (
    "The payment service could not be reached just now; you were not charged. Please try again."
)


def _buyer_transaction(request, transaction_id) -> Transaction:
    txn = (
        Transaction.objects.select_related("listing")
        .filter(pk=transaction_id, buyer_id=request.user.pk)
        .first()
    )
    if txn is None:
        raise Http404("No such order.")
    return txn


def _order_url(txn: Transaction) -> str:
    return reverse("payments:order", args=[txn.pk])


def _checkout_key(listing: Listing, user) -> str:
    """One key per open checkout of this buyer on this listing: a double submit (or a reload
    of the POST) finds the same transaction; after a cancellation the next Buy is a new one."""
    closed = Transaction.objects.filter(
        listing_id=listing.pk, buyer_id=user.pk, status=Status.CANCELLED
    ).count()
    return f"checkout-{listing.pk}-{user.pk}-{closed}"


@login_required
@require_POST
def checkout_start(request, slug):
    listing = get_object_or_404(Listing.objects.defer("search_vector"), slug=slug)
    try:
        txn = transaction_start(
            listing=listing, buyer=request.user, idempotency_key=_checkout_key(listing, request.user)
        )
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(listing.get_absolute_url())
    if txn.status != Status.PENDING:
        return redirect(_order_url(txn))
    return redirect("payments:checkout", transaction_id=txn.pk)


@login_required
@require_GET
def checkout(request, transaction_id):
    txn = _buyer_transaction(request, transaction_id)
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


def _answer(txn: Transaction, intent) -> JsonResponse:
    """The browser's next step for this PaymentIntent."""
    order_url = _order_url(txn)
    status = intent["status"]
    if status == "succeeded":
        return JsonResponse({"status": "succeeded", "redirect": order_url})
    if status in ("requires_action", "requires_source_action"):
        return JsonResponse(
            {
                "status": "requires_action",
                "client_secret": intent["client_secret"],
                "confirm_url": reverse("payments:checkout_confirm", args=[txn.pk]),
                "redirect": order_url,
            }
        )
    if status == "processing":
        return JsonResponse({"status": "processing", "redirect": order_url})
    return _json_error("The payment did not go through; please try another card.", status=402)


@login_required
@require_POST
def checkout_pay(request, transaction_id):
    txn = _buyer_transaction(request, transaction_id)
    if txn.status != Status.PENDING:
        return JsonResponse(
            {"status": "succeeded" if txn.payment_intent_id else txn.status, "redirect": _order_url(txn)}
        )
    try:
        payment_method = str(json.loads(request.body or b"{}").get("payment_method") or "").strip()
    except (ValueError, AttributeError):
        payment_method = ""
    if not payment_method or len(payment_method) > 255:
        return _json_error("No card was given.")
    try:
        # The row lock serialises two submits of one checkout: the second one finds the
        # intent the first attached instead of creating another (never two charges).
        with db_transaction.atomic():
            locked = Transaction.objects.select_for_update().get(pk=txn.pk)
            intent = None
            if locked.payment_intent_id:
                intent = stripe_client.retrieve_payment_intent(locked.payment_intent_id)
                if intent["status"] in ("requires_payment_method", "canceled"):
                    intent = None  # the earlier card was declined: a new intent for the new card
            if intent is None:
                intent = stripe_client.create_payment_intent(
                    amount_cents=locked.total_cents,
                    currency=locked.currency,
                    payment_method=payment_method,
                    metadata={"transaction_id": str(locked.pk)},
                    idempotency_key=f"pi-{locked.pk}-{payment_method}",
                )
                transaction_attach_payment_intent(transaction=locked, payment_intent_id=intent["id"])
    except stripe.CardError as error:
        return _json_error(error.user_message or "Your card was declined.", status=402)
    except stripe.StripeError as error:
        logger.warning("checkout %s: Stripe error %s", txn.pk, error)
        return _json_error(getattr(error, "user_message", None) or STRIPE_DOWN_MESSAGE, status=502)
    except ServiceError as error:
        return _json_error(error.message, status=409)
    try:
        transaction_settle_payment_intent(transaction=txn, payment_intent=intent)
    except ServiceError as error:
        return _json_error(error.message, status=409)
    return _answer(txn, intent)


@login_required
@require_POST
def checkout_confirm(request, transaction_id):
    txn = _buyer_transaction(request, transaction_id)
    if not txn.payment_intent_id:
        return _json_error("No payment was started for this order.")
    if txn.status != Status.PENDING:
        return JsonResponse({"status": "succeeded", "redirect": _order_url(txn)})
    try:
        intent = stripe_client.retrieve_payment_intent(txn.payment_intent_id)
        transaction_settle_payment_intent(transaction=txn, payment_intent=intent)
    except stripe.StripeError:
        return _json_error(STRIPE_DOWN_MESSAGE, status=502)
    except ServiceError as error:
        return _json_error(error.message, status=409)
    return _answer(txn, intent)


@login_required
@require_POST
def checkout_cancel(request, transaction_id):
    txn = _buyer_transaction(request, transaction_id)
    try:
        transaction_cancel(transaction=txn, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(_order_url(txn))
    messages.success(request, "Your order was cancelled; you were not charged.")
    return redirect(txn.listing.get_absolute_url() if txn.listing_id else _order_url(txn))


def _order_for(request, transaction_id) -> Transaction:
    """The order if the user is its buyer or seller, or staff; 404 for anyone else."""
    orders = Transaction.objects.select_related("listing", "buyer", "seller").filter(pk=transaction_id)
    if not request.user.is_staff:
        orders = orders.filter(Q(buyer_id=request.user.pk) | Q(seller_id=request.user.pk))
    txn = orders.first()
    if txn is None:
        raise Http404("No such order.")
    return txn


def _refund_context(txn: Transaction, user, totals: dict[str, int]) -> dict:
    """The refund form for the seller and staff while the purchase is paid: the most they may
    refund (all that remains, or partially up to the seller's payout) and a request key."""
    if txn.status not in (Status.PROCESSING, Status.COMPLETED):
        return {"can_refund": False}
    try:
        ensure_can_refund(txn, user)
    except ServiceError:
        return {"can_refund": False}
    remaining = txn.total_cents - totals["refund"]
    return {
        "can_refund": True,
        "refund_remaining": remaining,
        "refund_partial_max": max(txn.seller_payout_cents - totals["refund"], 0),
        "refund_default": amount_text(remaining, txn.currency),
        "refund_request_key": uuid.uuid4().hex,
        "refund_after_release": txn.escrow_released_at is not None,
    }


@login_required
@require_GET
def orders(request):
    """The buyer's purchases, newest first."""
    page = buyer_orders_page(buyer=request.user, cursor=request.GET.get("cursor"))
    return render(request, "payments/orders.html", {"page": page})


@login_required
@require_GET
def order(request, transaction_id):
    txn = _order_for(request, transaction_id)
    totals = ledger_totals(txn)
    is_buyer = txn.buyer_id == request.user.pk
    return render(
        request,
        "payments/order.html",
        {
            "txn": txn,
            "listing": txn.listing,
            "totals": totals,
            "paid_out": totals["transfer"] - totals["transfer_reversal"],
            "payouts_simulated": settings.STRIPE_CONNECT_SIMULATED,
            "history": [
                {"status": Status(entry["status"]).label, "at": datetime.fromisoformat(entry["at"])}
                for entry in txn.metadata.get("history", [])
                if entry.get("status") in Status.values
            ],
            "is_buyer": is_buyer,
            "can_confirm": is_buyer
            and txn.status == Status.PROCESSING
            and txn.escrow_released_at is None
            and not txn.metadata.get("receipt_confirmed_at"),
            "can_pay": is_buyer and txn.status == Status.PENDING,
            **_refund_context(txn, request.user, totals),
        },
    )


@login_required
@require_POST
def order_refund(request, transaction_id):
    """The seller or staff refunds the buyer, in full or in part (amount typed as 12.50)."""
    txn = _order_for(request, transaction_id)
    try:
        ensure_can_refund(txn, request.user)
    except ServiceError as error:
        raise Http404("No such order.") from error
    try:
        amount = parse_amount(request.POST.get("amount", ""), txn.currency)
        if amount <= 0:
            raise ValueError("Enter an amount greater than zero.")
    except ValueError as error:
        messages.error(request, str(error))
        return redirect(_order_url(txn))
    try:
        refund_issue(
            transaction=txn,
            amount_cents=amount,
            actor=request.user,
            request_key=request.POST.get("request_key", ""),
        )
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{format_amount(amount, txn.currency)} was refunded to the buyer.")
    return redirect(_order_url(txn))


@login_required
@require_POST
def order_confirm_receipt(request, transaction_id):
    txn = _buyer_transaction(request, transaction_id)
    try:
        transaction_confirm_receipt(transaction=txn, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Thanks! The seller will be paid.")
    return redirect(_order_url(txn))
