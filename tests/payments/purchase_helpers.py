"""Transactions built by the real payments services, for the payments tests."""

import itertools
from datetime import timedelta

from django.utils import timezone

from payments.models import Transaction
from payments.services import (
    transaction_confirm_receipt,
    transaction_mark_paid,
    transaction_release,
    transaction_start,
)
from tests.factories import ListingFactory, UserFactory

_ids = itertools.count(1)


def next_id(prefix: str) -> str:
    return f"{prefix}_test_{next(_ids)}"


def start(listing=None, buyer=None, **listing_fields) -> Transaction:
    listing = listing or ListingFactory(**listing_fields)
    return transaction_start(listing=listing, buyer=buyer or UserFactory(), idempotency_key=next_id("key"))


def paid(**kwargs) -> Transaction:
    txn = start(**kwargs)
    return transaction_mark_paid(
        transaction=txn,
        payment_intent_id=next_id("pi"),
        charge_id=next_id("ch"),
        amount_cents=txn.total_cents,
    )


def released(**kwargs) -> Transaction:
    txn = paid(**kwargs)
    transaction_confirm_receipt(transaction=txn, actor=txn.buyer)
    return transaction_release(
        transaction=txn, transfer_id=next_id("tr"), at=timezone.now() + timedelta(seconds=1)
    )


def reload(txn: Transaction) -> Transaction:
    return Transaction.objects.select_related("listing").get(pk=txn.pk)
