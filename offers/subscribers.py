"""Offers' subscribers to the purchase hooks (connected in ``OffersConfig.ready()``): the
checkout an accepted offer opened decides what becomes of the offer."""

from offers.services import offer_checkout_closed
from payments import hooks as payments_hooks


@payments_hooks.order_paid.subscribe
def offer_paid(transaction) -> None:
    """The buyer paid the agreed price: the offer is done."""
    offer_checkout_closed(transaction_id=transaction.pk, paid=True)


@payments_hooks.order_cancelled.subscribe
def offer_lapsed(transaction) -> None:
    """The checkout at the agreed price was cancelled or expired unpaid: the offer lapses
    (payments already made the listing available again)."""
    offer_checkout_closed(transaction_id=transaction.pk, paid=False)
