"""The ``order_paid`` analytics event, from payments' own hook (analytics sits below payments,
so payments records it; the webhook that pays has no visitor's request).

The event carries no user and no address: the transaction row already says who bought; the
funnel only counts paid orders per category.
"""

from analytics.tracking import EventName, track
from listings.analytics import listing_event_properties
from payments import hooks


@hooks.order_paid.subscribe
def track_order_paid(transaction) -> None:
    track(
        None,
        EventName.ORDER_PAID,
        transaction=transaction.pk,
        total_cents=transaction.total_cents,
        currency=transaction.currency,
        **listing_event_properties(transaction.listing),
    )
