"""Review forms and the "Reviews to write" page.

Thin views: each fetches what it acts on with an access helper (``access_transaction``,
``access_review``: 404 for anyone not allowed, exactly like an unknown id), parses a form,
calls one service and redirects with a message. A refused review or response re-renders the
order page with the form, what was typed and the reason (400); a refused flag goes back to the
profile with the reason (429 when the member flags too often).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from marketplace.errors import ErrorCode, ServiceError
from payments.order_views import order_page_response
from payments.selectors import access_transaction
from reviews.forms import FlagForm, ResponseForm, ReviewForm
from reviews.selectors import access_review, reviews_to_write
from reviews.services import review_edit, review_flag, review_respond, review_submit


def _order_url(transaction_id) -> str:
    return reverse("payments:order", args=[transaction_id]) + "#reviews-heading"


@login_required
@require_GET
def reviews_to_write_page(request):
    """The member's purchases and sales they may still review, soonest deadline first."""
    return render(request, "reviews/to_write.html", {"pending": reviews_to_write(request.user)})


@login_required
@require_POST
def review_submit_view(request, transaction_id):
    """A party reviews the other party of the purchase (from the order page)."""
    txn = access_transaction(request.user, transaction_id, as_="party")
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            review_submit(transaction=txn, author=request.user, **form.cleaned_data)
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Thanks! Your review is saved.")
            return redirect(_order_url(txn.pk))
    return order_page_response(request, txn, review_form=form, status=400)


@login_required
@require_POST
def review_edit_view(request, review_id):
    """The author changes their review while it is not published yet."""
    review = access_review(request.user, review_id, as_="author")
    form = ReviewForm(request.POST, prefix_id="edit")
    if form.is_valid():
        try:
            review_edit(review=review, author=request.user, **form.cleaned_data)
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Your review was updated.")
            return redirect(_order_url(review.transaction_id))
    txn = access_transaction(request.user, review.transaction_id, as_="party")
    return order_page_response(request, txn, edit_form=form, status=400)


@login_required
@require_POST
def review_respond_view(request, review_id):
    """The reviewee responds, once, to a published review of them."""
    review = access_review(request.user, review_id, as_="reviewee")
    form = ResponseForm(request.POST)
    if form.is_valid():
        try:
            review_respond(review=review, author=request.user, response=form.cleaned_data["response"])
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Your response was published under the review.")
            return redirect(_order_url(review.transaction_id))
    txn = access_transaction(request.user, review.transaction_id, as_="party")
    return order_page_response(request, txn, response_form=form, status=400)


@login_required
@require_POST
def review_flag_view(request, review_id):
    """A member reports a published review to staff (from the reviewee's profile)."""
    review = access_review(request.user, review_id, as_="member")
    back = reverse("accounts:profile", args=[review.reviewee_id]) + "#reviews-heading"
    form = FlagForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    try:
        review_flag(review=review, member=request.user, **form.cleaned_data)
    except ServiceError as error:
        if error.code == ErrorCode.RATE_LIMITED:
            context = {"throttle_message": error.message}
            return render(request, "accounts/rate_limited.html", context, status=429)
        messages.error(request, error.message)
    else:
        messages.success(request, "Thanks: the review was reported to staff, who will look at it.")
    return redirect(back)
