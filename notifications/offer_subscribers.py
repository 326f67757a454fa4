"""Notifications of offers (``offers.hooks``): the party who must answer, or who was answered,
hears of each move once (the key is the offer and its move)."""

from django.urls import reverse

from marketplace.money import format_amount
from notifications.models import NotificationType
from notifications.services import notify
from offers import hooks


def _offers_link(box: str, offer) -> str:
    return f"{reverse('offers:list')}?box={box}#offer-{offer.pk}"


def _title(offer) -> str:
    return offer.listing.title


@hooks.offer_made.subscribe
def notify_offer_received(offer) -> None:
    notify(
        user=offer.seller,
        type=NotificationType.OFFER_RECEIVED,
        title=f"New offer on {_title(offer)}",
        message=f"{offer.buyer.display_name} offered {format_amount(offer.amount_cents, offer.currency)}.",
        link=_offers_link("received", offer),
        key=f"offer_made:{offer.pk}",
    )


@hooks.offer_countered.subscribe
def notify_offer_countered(offer) -> None:
    notify(
        user=offer.buyer,
        type=NotificationType.OFFER_COUNTERED,
        title=f"Counter-offer on {_title(offer)}",
        message=f"The seller countered with {format_amount(offer.counter_cents, offer.currency)}.",
        link=_offers_link("made", offer),
        key=f"offer_countered:{offer.pk}",
    )


@hooks.offer_accepted.subscribe
def notify_offer_accepted(offer) -> None:
    """The party who did not accept hears of it; the buyer's notice links to the checkout."""
    price = format_amount(offer.agreed_cents, offer.currency)
    if offer.counter_cents and offer.agreed_cents == offer.counter_cents:
        user, message, link = (
            offer.seller,
            f"The buyer accepted your counter of {price}.",
            _offers_link("received", offer),
        )
    else:
        user = offer.buyer
        message = f"The seller accepted {price}: pay now to complete the purchase."
        link = (
            reverse("payments:checkout", args=[offer.transaction_id])
            if offer.transaction_id
            else _offers_link("made", offer)
        )
    notify(
        user=user,
        type=NotificationType.OFFER_ACCEPTED,
        title=f"Offer accepted on {_title(offer)}",
        message=message,
        link=link,
        key=f"offer_accepted:{offer.pk}",
    )


@hooks.offer_declined.subscribe
def notify_offer_declined(offer, declined_by) -> None:
    """The other party hears of it, with the reason; the site's own decline (another offer
    won) tells the buyer."""
    buyer_declined = declined_by is not None and declined_by.pk == offer.buyer_id
    user, box = (offer.seller, "received") if buyer_declined else (offer.buyer, "made")
    notify(
        user=user,
        type=NotificationType.OFFER_DECLINED,
        title=f"Offer declined on {_title(offer)}",
        message=offer.decline_reason,
        link=_offers_link(box, offer),
        key=f"offer_declined:{offer.pk}",
    )


@hooks.offer_expired.subscribe
def notify_offer_expired(offer) -> None:
    for user, box in ((offer.buyer, "made"), (offer.seller, "received")):
        notify(
            user=user,
            type=NotificationType.OFFER_EXPIRED,
            title=f"Offer expired on {_title(offer)}",
            message=f"No answer in time to {format_amount(offer.current_cents, offer.currency)}.",
            link=_offers_link(box, offer),
            key=f"offer_expired:{offer.pk}",
        )


@hooks.offer_withdrawn.subscribe
def notify_offer_withdrawn(offer) -> None:
    amount = format_amount(offer.current_cents, offer.currency)
    notify(
        user=offer.seller,
        type=NotificationType.OFFER_WITHDRAWN,
        title=f"Offer withdrawn on {_title(offer)}",
        message=f"{offer.buyer.display_name} withdrew their offer of {amount}.",
        link=_offers_link("received", offer),
        key=f"offer_withdrawn:{offer.pk}",
    )
