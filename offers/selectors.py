"""Reads for offers: access, what a party may do, the offers pages, the listing page's panel."""

from dataclasses import dataclass

from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from listings.capabilities import listing_offer_refusal
from listings.models import Listing, PricingType
from marketplace.pagination import KeysetPage, newest_first_page
from offers.models import LIVE_STATUSES, Offer, OfferFloor, OfferStatus
from payments.models import TransactionStatus

Status = OfferStatus
PAGE_SIZE = 20
BOXES = ("received", "made")


def access_offer(*, user, offer_id) -> Offer:
    """Offer ``offer_id`` if ``user`` is its buyer or seller, listing and both parties
    joined; else ``Http404`` (someone else's offer does not exist). One query."""
    if not user.is_authenticated:
        raise Http404("No such offer.")
    offer = (
        Offer.objects.select_related("listing", "buyer", "seller", "transaction")
        .filter(Q(buyer_id=user.pk) | Q(seller_id=user.pk), pk=offer_id)
        .first()
    )
    if offer is None:
        raise Http404("No such offer.")
    return offer


@dataclass(frozen=True)
class OfferCapabilities:
    """What the viewer (a party) may do with an offer now; the services ask the same facts."""

    is_buyer: bool
    can_accept: bool
    can_decline: bool
    can_counter: bool
    can_withdraw: bool
    can_pay: bool  # the buyer's checkout at the agreed price is open


def offer_capabilities(viewer, offer: Offer, *, now=None) -> OfferCapabilities:
    """``offer.transaction`` loaded (``access_offer`` and the list pages join it)."""
    now = now or timezone.now()
    is_buyer = viewer.pk == offer.buyer_id
    live = offer.status in LIVE_STATUSES and offer.expires_at > now
    my_turn = live and viewer.pk == (offer.seller_id if offer.status == Status.OPEN else offer.buyer_id)
    return OfferCapabilities(
        is_buyer=is_buyer,
        can_accept=my_turn,
        can_decline=my_turn,
        can_counter=my_turn and offer.status == Status.OPEN,
        can_withdraw=live and is_buyer,
        can_pay=bool(
            is_buyer
            and offer.status == Status.ACCEPTED
            and offer.transaction is not None
            and offer.transaction.status == TransactionStatus.PENDING
        ),
    )


@dataclass
class OfferRow:
    offer: Offer
    capabilities: OfferCapabilities


def offers_page(*, user, box: str, cursor: str | None, limit: int = PAGE_SIZE) -> KeysetPage:
    """One keyset page of the offers ``user`` received (as seller) or made (as buyer), newest
    first, each with its capabilities. One query whatever the page size."""
    if box not in BOXES:
        box = BOXES[0]
    offers = Offer.objects.select_related("listing", "buyer", "seller", "transaction")
    offers = offers.filter(seller_id=user.pk) if box == "received" else offers.filter(buyer_id=user.pk)
    page = newest_first_page(
        offers, field="created_at", cursor=cursor, salt="offers.page", limit=limit, scope=box
    )
    now = timezone.now()
    page.rows = [OfferRow(offer, offer_capabilities(user, offer, now=now)) for offer in page.rows]
    return page


def live_offers_received(*, seller, limit: int = 5) -> list[Offer]:
    """The offers waiting for the seller's answer (open, not countered: a counter waits for
    the buyer), newest first (the dashboard). One query."""
    return list(
        Offer.objects.select_related("listing", "buyer")
        .filter(seller_id=seller.pk, status=OfferStatus.OPEN, expires_at__gt=timezone.now())
        .order_by("-created_at")[:limit]
    )


@dataclass(frozen=True)
class ListingOfferPanel:
    """The offers part of a listing page: the form for a buyer, the floor for the owner."""

    negotiable: bool
    can_offer: bool
    refusal_message: str | None
    live_offer: Offer | None  # the viewer's offer waiting for an answer
    floor_cents: int | None  # the owner's floor (never shown to anyone else)


NO_PANEL = ListingOfferPanel(False, False, None, None, None)


def listing_offer_panel(viewer, listing: Listing) -> ListingOfferPanel:
    """For a negotiable listing: whether ``viewer`` may make an offer (a visitor is offered
    the form and asked to log in), their live offer, and for the owner the floor. At most one
    query (none for a fixed-price listing or a visitor)."""
    if listing.pricing_type != PricingType.NEGOTIABLE:
        return NO_PANEL
    if viewer.is_authenticated and viewer.pk == listing.seller_id:
        floor = OfferFloor.objects.filter(listing_id=listing.pk).values_list("floor_cents", flat=True).first()
        return ListingOfferPanel(True, False, None, None, floor)
    refusal = listing_offer_refusal(listing, viewer)
    live = None
    if viewer.is_authenticated:
        live = Offer.objects.filter(
            listing_id=listing.pk, buyer_id=viewer.pk, status__in=LIVE_STATUSES
        ).first()
    return ListingOfferPanel(
        negotiable=True,
        can_offer=refusal is None and live is None,
        refusal_message=refusal.message if refusal is not None else None,
        live_offer=live,
        floor_cents=None,
    )
