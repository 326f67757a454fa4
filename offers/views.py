"""Offer pages: make one from a listing page, the offers list (received / made), the answers
(accept, decline, counter, withdraw) and the seller's floor. Every write is a POST calling one
service; refusals come back as a message on the page they were made from."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from listings.selectors import access_listing_for_edit, listing_for_viewer, listing_share_url
from marketplace.errors import ErrorCode, ServiceError
from marketplace.money import parse_amount
from offers import services
from offers.selectors import BOXES, access_offer, offers_page

ACTIONS = ("accept", "decline", "counter", "withdraw")


def _rate_limited(request, message: str, back: str):
    response = render(
        request, "offers/rate_limited.html", {"throttle_message": message, "back": back}, status=429
    )
    response["Retry-After"] = "3600"
    return response


@login_required
@require_POST
def offer_make(request, slug):
    """Make an offer from a listing page: the listing is resolved by the page's own access
    rule (an unlisted listing's form carries its share token)."""
    share_token = request.POST.get("share_token") or None
    listing = listing_for_viewer(slug=slug, viewer=request.user, share_token=share_token)
    back = (listing_share_url(listing) if share_token else listing.get_absolute_url()) + "#offer"
    try:
        amount = parse_amount(request.POST.get("amount", ""), listing.currency)
        offer = services.offer_make(listing=listing, buyer=request.user, amount_cents=amount)
    except ValueError as error:
        messages.error(request, str(error))
        return redirect(back)
    except ServiceError as error:
        if error.code == ErrorCode.RATE_LIMITED:
            return _rate_limited(request, error.message, back)
        messages.error(request, error.message)
        return redirect(back)
    messages.success(request, "Offer sent: the seller has been told. Their answer will appear here.")
    return redirect(f"{reverse('offers:list')}?box=made#offer-{offer.pk}")


@login_required
@require_GET
def offer_list(request):
    box = request.GET.get("box", BOXES[0])
    if box not in BOXES:
        box = BOXES[0]
    page = offers_page(user=request.user, box=box, cursor=request.GET.get("cursor"))
    return render(request, "offers/list.html", {"page": page, "box": box, "boxes": BOXES})


@login_required
@require_POST
def offer_action(request, offer_id, action):
    if action not in ACTIONS:
        raise Http404("No such action.")
    offer = access_offer(user=request.user, offer_id=offer_id)
    box = "made" if offer.buyer_id == request.user.pk else "received"
    back = f"{reverse('offers:list')}?box={box}#offer-{offer.pk}"
    try:
        if action == "accept":
            offer = services.offer_accept(offer=offer, actor=request.user)
        elif action == "decline":
            offer = services.offer_decline(
                offer=offer, actor=request.user, reason=request.POST.get("reason", "")
            )
        elif action == "counter":
            amount = parse_amount(request.POST.get("amount", ""), offer.currency)
            offer = services.offer_counter(offer=offer, actor=request.user, amount_cents=amount)
        else:
            offer = services.offer_withdraw(offer=offer, actor=request.user)
    except ValueError as error:
        messages.error(request, str(error))
        return redirect(back)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(back)
    if action == "accept" and offer.buyer_id == request.user.pk and offer.transaction_id:
        messages.success(request, "Offer accepted: pay the agreed price to complete the purchase.")
        return redirect("payments:checkout", transaction_id=offer.transaction_id)
    done = {
        "accept": "Offer accepted: the buyer has been told and can now pay the agreed price.",
        "decline": "Offer declined.",
        "counter": "Counter-offer sent.",
        "withdraw": "Offer withdrawn.",
    }
    messages.success(request, done[action])
    return redirect(back)


@login_required
@require_POST
def offer_floor(request, listing_id):
    listing = access_listing_for_edit(user=request.user, listing_id=listing_id)
    text = request.POST.get("floor", "").strip()
    try:
        floor = parse_amount(text, listing.currency) if text else None
        services.offer_floor_set(listing=listing, actor=request.user, floor_cents=floor)
    except ValueError as error:
        messages.error(request, str(error))
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Offer floor saved." if floor else "Offer floor removed.")
    return redirect(listing.get_absolute_url())
