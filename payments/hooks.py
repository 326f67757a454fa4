"""The purchase's domain events: where emails, notifications and review prompts hook in.

Each is a :class:`marketplace.events.Hook`. The payments services call them through
``marketplace.events.after_commit`` once the change is committed, so a subscriber never sees
a change that was rolled back, and a failing subscriber (a mail server down) is logged without
undoing the payment, failing Stripe's webhook, or stopping the other subscribers. Subscribers
take the transaction as committed (re-read what you need) and must not change its status:
that is the services' job.

Subscribe from your app's ``AppConfig.ready()`` (payments' own: ``payments/subscribers.py``)::

    @hooks.order_completed.subscribe
    def request_reviews(transaction): ...
"""

from marketplace.events import Hook

order_paid = Hook("payments.order_paid", "order_paid(transaction): the buyer paid (pending -> processing).")
order_cancelled = Hook(
    "payments.order_cancelled",
    "order_cancelled(transaction): an unpaid checkout ended (the buyer, the expiry or Stripe); "
    "the listing is available again.",
)
order_receipt_confirmed = Hook(
    "payments.order_receipt_confirmed",
    "order_receipt_confirmed(transaction): the buyer confirmed receipt; the seller is paid at "
    "the next escrow release.",
)
order_completed = Hook(
    "payments.order_completed",
    "order_completed(transaction): escrow released to the seller (processing -> completed).",
)
order_refunded = Hook(
    "payments.order_refunded",
    "order_refunded(transaction, amount_cents): a refund, full or partial, was booked.",
)
order_disputed = Hook(
    "payments.order_disputed", "order_disputed(transaction): the buyer's bank opened a dispute."
)
order_dispute_closed = Hook(
    "payments.order_dispute_closed",
    "order_dispute_closed(transaction, won): the dispute ended; won is True when the seller won.",
)
