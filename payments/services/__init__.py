"""Writes for payments: the purchase, the transaction state machine, escrow, refunds and
disputes. The public API of the package is re-exported here; import from ``payments.services``.

- ``locking``: :func:`transaction_lock`, the row locks (and the lock order) every write takes.
- ``state``: the transition table and :func:`transaction_transition`, the one place a status
  changes.
- ``purchase``: start, cancel and expire a checkout.
- ``checkout``: the buyer pays (the PaymentIntent attached, settled, the transaction paid).
- ``escrow``: receipt confirmed, escrow released to the seller (held for staff while the
  seller is not in good standing).
- ``refunds``: refunds (booked, or issued at Stripe), reversals of the seller's transfer.
- ``disputes``: disputes opened and closed.

The money each write books, and the figures read back from it, are in ``payments.ledger``.
Each committed change calls one hook of ``payments.hooks`` (receipts, notices; the
notifications and review prompts hook in there).
"""

from payments.ledger import LedgerLine, ledger_totals
from payments.services.checkout import (
    PaymentResult,
    transaction_attach_payment_intent,
    transaction_confirm_payment,
    transaction_mark_paid,
    transaction_pay,
    transaction_settle_payment_intent,
)
from payments.services.disputes import transaction_dispute_close, transaction_dispute_open
from payments.services.escrow import (
    payout_due_cents,
    transaction_confirm_receipt,
    transaction_release,
    transaction_release_due,
    transaction_release_held_payout,
)
from payments.services.locking import NOT_FOUND_MESSAGE, transaction_lock
from payments.services.purchase import (
    RESERVED_MESSAGE,
    SOLD_MESSAGE,
    UNAVAILABLE_MESSAGE,
    checkout_key,
    checkout_start_retry_after,
    transaction_cancel,
    transaction_expire,
    transaction_start,
)
from payments.services.refunds import (
    REVERSAL_REFUSED_MESSAGE,
    STRIPE_DOWN_MESSAGE,
    STRIPE_REFUSED_MESSAGE,
    SYSTEM,
    ensure_can_refund,
    refund_amount_check,
    refund_issue,
    reversal_key,
    seller_reversal_due_cents,
    transaction_book_late_payment,
    transaction_refund,
    transaction_reverse_due,
)
from payments.services.state import (
    TRANSACTION_TRANSITIONS,
    TRANSITION_TABLE,
    TransactionTransition,
    transaction_transition,
)

__all__ = [
    "NOT_FOUND_MESSAGE",
    "RESERVED_MESSAGE",
    "SOLD_MESSAGE",
    "REVERSAL_REFUSED_MESSAGE",
    "STRIPE_DOWN_MESSAGE",
    "STRIPE_REFUSED_MESSAGE",
    "SYSTEM",
    "TRANSACTION_TRANSITIONS",
    "TRANSITION_TABLE",
    "TransactionTransition",
    "UNAVAILABLE_MESSAGE",
    "LedgerLine",
    "PaymentResult",
    "ensure_can_refund",
    "ledger_totals",
    "payout_due_cents",
    "refund_amount_check",
    "refund_issue",
    "reversal_key",
    "seller_reversal_due_cents",
    "transaction_attach_payment_intent",
    "transaction_book_late_payment",
    "transaction_cancel",
    "transaction_confirm_payment",
    "transaction_confirm_receipt",
    "transaction_dispute_close",
    "transaction_dispute_open",
    "transaction_expire",
    "transaction_lock",
    "transaction_mark_paid",
    "transaction_pay",
    "transaction_refund",
    "transaction_release",
    "transaction_release_due",
    "transaction_release_held_payout",
    "transaction_reverse_due",
    "transaction_settle_payment_intent",
    "transaction_start",
    "checkout_key",
    "checkout_start_retry_after",
    "transaction_transition",
]
