"""Refunds by the seller or staff (order page, admin action), through Stripe (localstripe),
with the seller's transfer pulled back after release; and a late payment refunded at once."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.core.management import call_command
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from listings.models import Listing
from marketplace.errors import ServiceError
from payments.gateway import PaymentUnavailable, SimulatedConnectGateway, payment_gateway
from payments.models import LedgerEntry, StripeEvent, Transaction
from payments.services import (
    ledger_totals,
    refund_issue,
    refunds,
    transaction_attach_payment_intent,
    transaction_cancel,
    transaction_expire,
)
from tests.factories import UserFactory
from tests.payments.conftest import TEST_WEBHOOK_SECRET
from tests.payments.purchase_helpers import paid_at_stripe, payment_method, release, reload, start
from tests.payments.stripe_events import charge_object, payment_intent_object, post_event, stripe_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("localstripe")]

S = Transaction.Status
K = LedgerEntry.Kind
REFUNDS = r"/v1/refunds"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET


def refund_url(txn):
    return reverse("payments:order_refund", args=[txn.pk])


def post_refund(client, txn, amount, key="form-1"):
    return client.post(refund_url(txn), {"amount": amount, "request_key": key})


def flash(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def refunded_at_stripe(txn) -> int:
    return payment_gateway().retrieve_charge(reload(txn).charge_id).amount_refunded_cents


def reconciles() -> bool:
    out = StringIO()
    try:
        call_command("reconcile", stdout=out)
    except Exception:  # CommandError: something is off
        return False
    return True


# --- The seller refunds from the order page ---------------------------------------------------
def test_seller_refunds_part_before_release(client, django_capture_on_commit_callbacks):
    txn = paid_at_stripe(price_cents=5_000)
    client.force_login(txn.seller)
    page = client.get(reverse("payments:order", args=[txn.pk]))
    assert b"Refund the buyer" in page.content and b'value="50.00"' in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = post_refund(client, txn, "12.50")
    assert response.status_code == 302
    assert flash(response) == ["$12.50 was refunded to the buyer."]
    [entry] = LedgerEntry.objects.filter(transaction=txn, kind=K.REFUND)
    assert entry.amount_cents == 1_250 and entry.external_id.startswith("re_")
    assert refunded_at_stripe(txn) == 1_250  # the money really went back at Stripe
    stored = reload(txn)
    assert stored.status == S.PROCESSING and stored.listing.status == Listing.Status.RESERVED
    assert {message.to[0] for message in mail.outbox} == {txn.buyer.email, txn.seller.email}
    assert reconciles()


def test_full_refund_before_release_returns_the_listing_and_the_fee(client):
    txn = paid_at_stripe(price_cents=5_000)
    client.force_login(txn.seller)
    post_refund(client, txn, "50.00")
    stored = reload(txn)
    assert stored.status == S.REFUNDED
    assert stored.listing.status == Listing.Status.ACTIVE
    totals = ledger_totals(stored)
    assert (totals[K.REFUND], totals[K.PLATFORM_FEE_REVERSAL]) == (5_000, 500)
    assert refunded_at_stripe(txn) == 5_000
    page = client.get(reverse("payments:order", args=[txn.pk]))
    assert b"Refund the buyer" not in page.content  # nothing left to refund
    assert reconciles()


def test_refund_after_release_pulls_the_sellers_part_back(client):
    txn = release(paid_at_stripe(price_cents=10_000))
    assert txn.status == S.COMPLETED
    client.force_login(txn.seller)
    post_refund(client, txn, "20.00")
    totals = ledger_totals(txn)
    assert totals[K.REFUND] == totals[K.TRANSFER_REVERSAL] == 2_000
    reversal = LedgerEntry.objects.get(transaction=txn, kind=K.TRANSFER_REVERSAL)
    assert reversal.external_id.startswith("trr_sim_")  # made through the Connect gateway
    assert reload(txn).status == S.COMPLETED
    assert reconciles()
    post_refund(client, txn, "80.00", key="form-2")  # the rest: the whole transfer comes back
    totals = ledger_totals(txn)
    assert reload(txn).status == S.REFUNDED
    assert totals[K.TRANSFER_REVERSAL] == totals[K.TRANSFER] == 9_000
    assert refunded_at_stripe(txn) == 10_000
    assert reconciles()


def test_a_double_submit_refunds_once(client, stripe_http):
    txn = paid_at_stripe(price_cents=5_000)
    client.force_login(txn.seller)
    post_refund(client, txn, "10.00", key="same-form")
    post_refund(client, txn, "10.00", key="same-form")
    sent = stripe_http.matching("POST", REFUNDS)
    assert len(sent) == 2 and sent[0].idempotency_key == sent[1].idempotency_key
    assert ledger_totals(txn)[K.REFUND] == 1_000
    assert refunded_at_stripe(txn) == 1_000


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("abc", "Enter an amount such as 45.99."),
        ("0", "Enter an amount greater than zero."),
        ("-1", "The amount cannot be negative."),
        ("1.001", "USD amounts have 2 decimal places."),
        ("50.01", "At most $50.00 remains to be refunded."),
        ("45.01", "Partial refunds cannot exceed the seller's payout; refund the whole amount instead."),
    ],
)
def test_bad_amounts_are_refused_and_nothing_changes(client, stripe_http, amount, message):
    txn = paid_at_stripe(price_cents=5_000)
    client.force_login(txn.seller)
    response = post_refund(client, txn, amount)
    assert flash(response) == [message]
    assert stripe_http.matching("POST", REFUNDS) == []  # Stripe was never asked
    assert ledger_totals(txn)[K.REFUND] == 0
    assert reload(txn).status == S.PROCESSING


def test_a_refund_of_an_unpaid_or_refunded_purchase_is_refused(client):
    txn = start()
    client.force_login(txn.seller)
    assert flash(post_refund(client, txn, "1.00")) == ["Only a paid purchase can be refunded."]
    assert not LedgerEntry.objects.filter(transaction=txn).exists()


def test_only_the_seller_and_staff_may_refund(client):
    txn = paid_at_stripe(price_cents=5_000)
    assert client.post(refund_url(txn), {"amount": "1.00"}).status_code == 302  # to log in
    for stranger in (txn.buyer, UserFactory()):
        client.force_login(stranger)
        assert post_refund(client, txn, "1.00").status_code == 404
    client.force_login(txn.buyer)
    assert b"Refund the buyer" not in client.get(reverse("payments:order", args=[txn.pk])).content
    client.force_login(UserFactory())
    assert client.get(reverse("payments:order", args=[txn.pk])).status_code == 404
    assert ledger_totals(txn)[K.REFUND] == 0

    client.force_login(UserFactory(is_staff=True))
    assert b"Refund the buyer" in client.get(reverse("payments:order", args=[txn.pk])).content
    post_refund(client, txn, "1.00")
    assert ledger_totals(txn)[K.REFUND] == 100


def test_order_page_query_count_with_the_refund_form(client, django_assert_max_num_queries):
    txn = paid_at_stripe(price_cents=5_000)
    client.force_login(txn.seller)
    with django_assert_max_num_queries(5):
        assert client.get(reverse("payments:order", args=[txn.pk])).status_code == 200


# --- Stripe failing mid-flow -------------------------------------------------------------------
def test_a_stripe_error_changes_nothing_and_a_retry_completes(client, stripe_http):
    txn = paid_at_stripe(price_cents=5_000)
    client.force_login(txn.seller)
    stripe_http.fail_next("POST", REFUNDS, status=500)
    response = post_refund(client, txn, "10.00")
    assert flash(response) == [refunds.STRIPE_DOWN_MESSAGE]
    assert ledger_totals(txn)[K.REFUND] == 0 and refunded_at_stripe(txn) == 0
    post_refund(client, txn, "10.00")  # the same form again
    assert ledger_totals(txn)[K.REFUND] == 1_000 and refunded_at_stripe(txn) == 1_000


def test_stripe_refusing_the_refund_says_why(client, stripe_http):
    txn = paid_at_stripe(price_cents=5_000)
    client.force_login(txn.seller)
    stripe_http.fail_next(
        "POST", REFUNDS, status=400, error_type="invalid_request_error", message="Charge disputed."
    )
    assert flash(post_refund(client, txn, "10.00")) == [
        "Stripe could not refund this payment: Charge disputed."
    ]
    assert ledger_totals(txn)[K.REFUND] == 0


def test_a_refund_made_but_not_booked_is_booked_once_by_webhook_and_retry(client, stripe_http, monkeypatch):
    """The refund went through at Stripe, then booking it failed. The ``charge.refunded``
    webhook books it (under a synthetic id, as the event does not name it); the retry of
    the form gets the same refund back from Stripe and does not book it a second time."""
    txn = paid_at_stripe(price_cents=5_000)
    real_refund = refunds.transaction_refund

    def crash(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(refunds, "transaction_refund", crash)
    with pytest.raises(RuntimeError):
        refund_issue(transaction=txn, amount_cents=1_000, actor=txn.seller, request_key="k1")
    monkeypatch.setattr(refunds, "transaction_refund", real_refund)
    assert ledger_totals(txn)[K.REFUND] == 0 and refunded_at_stripe(txn) == 1_000

    stored = reload(txn)
    charge = charge_object(
        stored.charge_id, payment_intent=stored.payment_intent_id, amount=5_000, amount_refunded=1_000
    )
    assert post_event(client, stripe_event("charge.refunded", charge)).json()["outcome"] == "processed"
    refund_issue(transaction=txn, amount_cents=1_000, actor=txn.seller, request_key="k1")
    assert ledger_totals(txn)[K.REFUND] == 1_000
    assert refunded_at_stripe(txn) == 1_000
    assert reconciles()


def test_a_reversal_that_fails_leaves_the_refund_booked_and_the_webhook_completes_it(client, monkeypatch):
    txn = release(paid_at_stripe(price_cents=10_000))
    gateway = SimulatedConnectGateway
    real = gateway.create_transfer_reversal

    def down(self, **kwargs):
        raise PaymentUnavailable("Network down")

    monkeypatch.setattr(gateway, "create_transfer_reversal", down)
    refund_issue(transaction=txn, amount_cents=1_000, actor=txn.seller, request_key="k2")
    assert ledger_totals(txn)[K.REFUND] == 1_000
    assert ledger_totals(txn)[K.TRANSFER_REVERSAL] == 0
    assert not reconciles()  # the seller still holds the refunded part: reported, not silent

    monkeypatch.setattr(gateway, "create_transfer_reversal", real)
    stored = reload(txn)
    charge = charge_object(
        stored.charge_id, payment_intent=stored.payment_intent_id, amount=10_000, amount_refunded=1_000
    )
    assert post_event(client, stripe_event("charge.refunded", charge)).json()["outcome"] == "processed"
    assert ledger_totals(txn)[K.TRANSFER_REVERSAL] == 1_000
    assert reconciles()


# --- Staff: the admin action ---------------------------------------------------------------------
def test_staff_refund_in_full_from_the_admin_once(client):
    txn = paid_at_stripe(price_cents=5_000)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    changelist = reverse("admin:payments_transaction_changelist")
    for _ in range(2):
        client.post(changelist, {"action": "refund_in_full", "_selected_action": [str(txn.pk)]})
    assert reload(txn).status == S.REFUNDED
    assert ledger_totals(txn)[K.REFUND] == 5_000
    assert refunded_at_stripe(txn) == 5_000
    change = client.get(reverse("admin:payments_transaction_change", args=[txn.pk]))
    assert reverse("payments:order", args=[txn.pk]).encode() in change.content


# --- A payment that succeeds after its checkout was cancelled ----------------------------------
def test_a_late_payment_is_refunded_at_once(client, django_capture_on_commit_callbacks):
    txn = start(price_cents=2_000)
    intent = payment_gateway().create_payment_intent(
        amount_cents=txn.total_cents,
        currency=txn.currency,
        payment_method=payment_method(),
        metadata={"transaction_id": str(txn.pk)},
        idempotency_key=f"late-test-{txn.pk}",
    )
    charge_id = intent.charge_id
    transaction_cancel(transaction=txn, actor=txn.buyer)
    event = stripe_event(
        "payment_intent.succeeded",
        payment_intent_object(
            intent.id,
            amount=txn.total_cents,
            metadata={"transaction_id": str(txn.pk)},
            latest_charge=charge_id,
        ),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, event).json()["outcome"] == "processed"
    assert post_event(client, event).json()["outcome"] == "duplicate"
    stored = reload(txn)
    assert stored.status == S.CANCELLED
    assert stored.listing.status == Listing.Status.ACTIVE
    totals = ledger_totals(stored)
    assert totals[K.CHARGE] == totals[K.REFUND] == 2_000
    assert payment_gateway().retrieve_charge(charge_id).amount_refunded_cents == 2_000
    assert [message.to for message in mail.outbox] == [[txn.buyer.email]]
    assert StripeEvent.objects.filter(type="payment_intent.succeeded").count() == 1
    assert reconciles()


# --- Concurrency -----------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_refunds_at_once_never_exceed_the_rules(ledger_db):
    """The seller and staff refund at the same moment from two connections: the row lock makes
    the second one re-check against the first, so together they never exceed the payout."""
    txn = paid_at_stripe(price_cents=5_000)  # payout 45.00
    people = {"seller": txn.seller, "staff": UserFactory(is_staff=True)}
    barrier = threading.Barrier(2, timeout=20)
    outcomes = {}

    def refund(name):
        try:
            barrier.wait()
            refund_issue(transaction=txn, amount_cents=3_000, actor=people[name], request_key=name)
            outcomes[name] = "refunded"
        except ServiceError as error:
            outcomes[name] = error.code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refund, args=(name,)) for name in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["refunded", "too_much"]
    assert ledger_totals(txn)[K.REFUND] == 3_000
    assert refunded_at_stripe(txn) == 3_000  # the refused one never reached Stripe


# --- A cancelled checkout stops its payment at Stripe ---------------------------------------------
def open_3d_secure_checkout():
    """A checkout whose card asks for 3-D Secure: the PaymentIntent waits for the buyer."""
    txn = start(price_cents=2_000)
    intent = payment_gateway().create_payment_intent(
        amount_cents=txn.total_cents,
        currency=txn.currency,
        payment_method=payment_method("4000002500003155"),
        metadata={"transaction_id": str(txn.pk)},
        idempotency_key=f"pi-3ds-{txn.pk}",
    )
    assert intent.status == "requires_action"
    transaction_attach_payment_intent(transaction=txn, payment_intent_id=intent.id)
    return reload(txn)


@pytest.mark.parametrize("how", ["buyer", "expiry"])
def test_a_cancelled_checkout_cancels_its_payment_intent(django_capture_on_commit_callbacks, how):
    txn = open_3d_secure_checkout()
    with django_capture_on_commit_callbacks(execute=True):
        if how == "buyer":
            transaction_cancel(transaction=txn, actor=txn.buyer)
        else:
            assert transaction_expire(transaction=txn, now=timezone.now() + timedelta(days=1))
    assert reload(txn).status == S.CANCELLED
    assert payment_gateway().retrieve_payment_intent(txn.payment_intent_id).status == "canceled"


def test_a_payment_intent_stripe_will_not_cancel_leaves_the_cancellation_alone(
    django_capture_on_commit_callbacks, stripe_http
):
    txn = open_3d_secure_checkout()
    stripe_http.fail_next(
        "POST", r"/v1/payment_intents/[^/]+/cancel", status=400, error_type="invalid_request_error"
    )
    with django_capture_on_commit_callbacks(execute=True):
        transaction_cancel(transaction=txn, actor=txn.buyer)
    assert len(stripe_http.matching("POST", r"/v1/payment_intents/[^/]+/cancel")) == 1
    assert reload(txn).status == S.CANCELLED  # a late success is refunded by the webhook instead
    assert reload(txn).listing.status == Listing.Status.ACTIVE
