"""The order pages: the buyer's orders, and one order's page (buyer, seller and staff) with the
buyer's "confirm receipt", the seller's and staff's refund form, and staff's release of a
payout held for a seller not in good standing.

Thin views: each parses its input, fetches the order with ``selectors.access_transaction``
(404 for anyone not allowed, exactly like an unknown id), calls one service or selector, and
renders or redirects; they catch ``ServiceError`` only. What the viewer may do comes from
``selectors.order_capabilities``; every amount from ``payments.ledger``. The reviews part
(``reviews.pages.order_reviews``) is composed here: presentation may use a higher app.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from marketplace.errors import ServiceError
from marketplace.money import amount_text, format_amount, parse_amount
from payments.selectors import (
    access_transaction,
    buyer_orders_page,
    may_refund,
    may_release_held_payout,
    order_page,
)
from payments.services import refund_issue, transaction_confirm_receipt, transaction_release_held_payout
from payments.services.refunds import NO_REFUND_PERMISSION_MESSAGE
from reviews.forms import ResponseForm, ReviewForm
from reviews.pages import order_reviews


def _order_url(txn) -> str:
    return reverse("payments:order", args=[txn.pk])


@login_required
@require_GET
def orders(request):
    """The buyer's purchases, newest first."""
    page = buyer_orders_page(buyer=request.user, cursor=request.GET.get("cursor"))
    return render(request, "payments/orders.html", {"page": page})


@login_required
@require_GET
def order(request, transaction_id):
    """One order, for its buyer, its seller and staff: amounts, timeline, and what they may do."""
    txn = access_transaction(request.user, transaction_id, as_="party")
    return order_page_response(request, txn)


def order_page_response(request, txn, *, status: int = 200, **forms):
    """The order page of ``txn`` (fetched with ``access_transaction``). ``forms``: a refused
    review form (``review_form``, ``edit_form``, ``response_form``) to show again with what was
    typed and why it was refused (the reviews views render it with status 400)."""
    page = order_page(user=request.user, transaction=txn)
    reviews = order_reviews(request.user, txn)
    context = {
        "txn": txn,
        "listing": txn.listing,
        "page": page,
        "caps": page.capabilities,
        "reviews": reviews,
    }
    if page.capabilities.can_refund:
        context["refund_default"] = amount_text(page.capabilities.refund_remaining_cents, txn.currency)
        context["refund_request_key"] = uuid.uuid4().hex  # one per form: a double submit refunds once
    context["review_form"] = forms.get("review_form") or ReviewForm()
    if reviews.own_review_editable:
        context["edit_form"] = forms.get("edit_form") or ReviewForm.for_review(reviews.own_review)
    context["response_form"] = forms.get("response_form") or ResponseForm()
    return render(request, "payments/order.html", context, status=status)


@login_required
@require_POST
def order_refund(request, transaction_id):
    """The seller or staff refunds the buyer, in full or in part (amount typed as 12.50).

    404 for anyone who is neither the seller nor staff; 403 for staff without the refund
    permission (``selectors.may_refund``). Staff give a reason, and may tick "book the seller
    debt" to refund even if Stripe will not take the money back from the seller."""
    txn = access_transaction(request.user, transaction_id, as_="refunder")
    if not may_refund(request.user, txn):
        raise PermissionDenied(NO_REFUND_PERMISSION_MESSAGE)
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
            reason=request.POST.get("reason", ""),
            book_seller_debt=request.POST.get("book_seller_debt") == "yes",
        )
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{format_amount(amount, txn.currency)} was refunded to the buyer.")
    return redirect(_order_url(txn))


@login_required
@require_POST
def order_release_held_payout(request, transaction_id):
    """Staff with the permission pay out a payout held because the seller is not in good
    standing, with a reason. 404 for anyone but staff; 403 for staff without the permission."""
    txn = access_transaction(request.user, transaction_id, as_="party")
    if not request.user.is_staff:
        raise Http404("No such order.")
    if not may_release_held_payout(request.user):
        raise PermissionDenied("Only staff allowed to release held payouts can do this.")
    try:
        transaction_release_held_payout(
            transaction=txn, actor=request.user, reason=request.POST.get("reason", "")
        )
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "The held payout was released to the seller.")
    return redirect(_order_url(txn))


@login_required
@require_POST
def order_confirm_receipt(request, transaction_id):
    """The buyer has the item: the seller is paid at the next escrow release."""
    txn = access_transaction(request.user, transaction_id, as_="buyer")
    try:
        transaction_confirm_receipt(transaction=txn, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Thanks! The seller will be paid.")
    return redirect(_order_url(txn))
