"""Transactions built by the real payments services, for the payments tests."""

import itertools
from datetime import timedelta

from django.contrib.auth.models import Permission
from django.utils import timezone

from payments.gateway import SimulatedConnectGateway, payment_gateway, stripe_gateway
from payments.models import Transaction
from payments.services import (
    transaction_attach_payment_intent,
    transaction_confirm_receipt,
    transaction_mark_paid,
    transaction_release_due,
    transaction_settle_payment_intent,
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
    return release(paid(**kwargs))


def payment_method(number: str = "4242424242424242") -> str:
    """A test PaymentMethod created through the localstripe API (what Stripe.js would send)."""
    pm = stripe_gateway.stripe_client().v1.payment_methods.create(
        {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return pm["id"]


def paid_at_stripe(**kwargs) -> Transaction:
    """Started and paid with a real PaymentIntent at localstripe (needs the localstripe fixture),
    so refunds of it reach Stripe."""
    txn = start(**kwargs)
    intent = payment_gateway().create_payment_intent(
        amount_cents=txn.total_cents,
        currency=txn.currency,
        payment_method=payment_method(),
        metadata={"transaction_id": str(txn.pk)},
        idempotency_key=f"pi-{txn.pk}",
    )
    transaction_attach_payment_intent(transaction=txn, payment_intent_id=intent.id)
    transaction_settle_payment_intent(transaction=txn, payment_intent=intent)
    return reload(txn)


def release(txn: Transaction) -> Transaction:
    """Confirm receipt and release through the real path: a transfer through the simulated
    Connect gateway to the seller's onboarded account, so later reversals have a transfer."""
    seller = txn.seller
    if not seller.stripe_connect_id:
        seller.stripe_connect_id = next_id("acct")
        seller.save(update_fields=["stripe_connect_id"])
    SimulatedConnectGateway().complete_onboarding(seller.stripe_connect_id)
    transaction_confirm_receipt(transaction=txn, actor=txn.buyer)
    outcome = transaction_release_due(transaction=txn, now=timezone.now() + timedelta(seconds=1))
    assert outcome == "released", outcome
    return reload(txn)


def staff_with(*codenames: str, **fields):
    """A staff member (not a superuser) holding the given ``payments`` permissions, e.g.
    ``staff_with("refund_transaction")``; with none, staff who may only look."""
    staff = UserFactory(**{"is_staff": True, **fields})
    if codenames:
        found = Permission.objects.filter(content_type__app_label="payments", codename__in=codenames)
        permissions = list(found)
        assert len(permissions) == len(codenames), f"missing permissions: {codenames} -> {permissions}"
        staff.user_permissions.add(*permissions)
    return staff


def reload(txn: Transaction) -> Transaction:
    return Transaction.objects.select_related("listing").get(pk=txn.pk)
