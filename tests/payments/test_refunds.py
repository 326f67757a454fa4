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
from marketplace.errors import ErrorCode, ServiceError
from payments.gateway import (
    PaymentRefused,
    PaymentUnavailable,
    SimulatedConnectGateway,
    StripePaymentGateway,
    payment_gateway,
)
from payments.models import LedgerEntry, StaffDecision, StripeEvent, Transaction
from payments.selectors import order_capabilities
from payments.services import (
    ledger_totals,
    refund_issue,
    refunds,
    transaction_attach_payment_intent,
    transaction_cancel,
    transaction_expire,
)
from tests.factories import UserFactory
from tests.jobs import run_jobs
from tests.payments.conftest import TEST_WEBHOOK_SECRET
from tests.payments.purchase_helpers import (
    paid,
    paid_at_stripe,
    payment_method,
    release,
    reload,
    staff_with,
    start,
)
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
    run_jobs()
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

    # Staff who may look but lack payments.refund_transaction: no form, and 403 on POST.
    client.force_login(staff_with())
    page = client.get(reverse("payments:order", args=[txn.pk]))
    assert page.status_code == 200 and b"Refund the buyer" not in page.content
    assert post_refund(client, txn, "1.00").status_code == 403
    assert ledger_totals(txn)[K.REFUND] == 0

    client.force_login(staff_with("refund_transaction"))
    page = client.get(reverse("payments:order", args=[txn.pk]))
    assert b"Refund the buyer" in page.content and b'name="reason"' in page.content
    # Staff give a reason; without one nothing changes.
    response = post_refund(client, txn, "1.00")
    assert flash(response) == ["Give a reason: it is recorded with the decision and shown to other staff."]
    assert ledger_totals(txn)[K.REFUND] == 0
    client.post(refund_url(txn), {"amount": "1.00", "request_key": "staff-1", "reason": "Buyer complained"})
    assert ledger_totals(txn)[K.REFUND] == 100
    [decision] = StaffDecision.objects.filter(transaction=txn)
    assert (decision.kind, decision.amount_cents, decision.reason) == ("refund", 100, "Buyer complained")


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


def test_a_reversal_that_cannot_reach_stripe_refunds_nothing_and_a_retry_completes(
    client, monkeypatch, stripe_http
):
    """After release the seller's part comes back first: if the Connect gateway cannot be
    reached, the buyer is not refunded and nothing is booked; the same form again completes
    both. (Before issue 11 the buyer was refunded first and the reversal left due.)"""
    txn = release(paid_at_stripe(price_cents=10_000))
    gateway = SimulatedConnectGateway
    real = gateway.create_transfer_reversal

    def down(self, **kwargs):
        raise PaymentUnavailable("Network down")

    monkeypatch.setattr(gateway, "create_transfer_reversal", down)
    client.force_login(txn.seller)
    assert flash(post_refund(client, txn, "10.00", key="k2")) == [refunds.STRIPE_DOWN_MESSAGE]
    assert stripe_http.matching("POST", REFUNDS) == []  # the buyer was not refunded
    assert ledger_totals(txn)[K.REFUND] == ledger_totals(txn)[K.TRANSFER_REVERSAL] == 0
    assert reconciles()

    monkeypatch.setattr(gateway, "create_transfer_reversal", real)
    post_refund(client, txn, "10.00", key="k2")
    totals = ledger_totals(txn)
    assert totals[K.REFUND] == totals[K.TRANSFER_REVERSAL] == 1_000
    assert refunded_at_stripe(txn) == 1_000
    assert reconciles()


# --- Staff: the admin action ---------------------------------------------------------------------
def test_staff_refund_in_full_from_the_admin_once(client):
    txn = paid_at_stripe(price_cents=5_000)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    changelist = reverse("admin:payments_transaction_changelist")
    action = {"action": "refund_in_full", "_selected_action": [str(txn.pk)]}
    # The action first asks for a reason (an intermediate page); without one nothing changes.
    page = client.post(changelist, action)
    assert page.status_code == 200 and b'name="reason"' in page.content
    page = client.post(changelist, {**action, "apply": "yes", "reason": " "})
    assert b"Give a reason: nothing was changed." in page.content
    assert reload(txn).status == S.PROCESSING and refunded_at_stripe(txn) == 0
    for _ in range(2):
        client.post(changelist, {**action, "apply": "yes", "reason": "Fraudulent listing"})
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
    run_jobs()
    assert [message.to for message in mail.outbox] == [[txn.buyer.email]]
    assert StripeEvent.objects.filter(type="payment_intent.succeeded").count() == 1
    assert reconciles()


# --- Concurrency -----------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_refunds_at_once_never_exceed_the_rules(ledger_db):
    """The seller and staff refund at the same moment from two connections: the row lock makes
    the second one re-check against the first, so together they never exceed the payout."""
    txn = paid_at_stripe(price_cents=5_000)  # payout 45.00
    people = {"seller": txn.seller, "staff": staff_with("refund_transaction")}
    barrier = threading.Barrier(2, timeout=20)
    outcomes = {}

    def refund(name):
        try:
            barrier.wait()
            refund_issue(
                transaction=txn, amount_cents=3_000, actor=people[name], request_key=name, reason="Damaged"
            )
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


# --- After release: the seller's part comes back before the buyer is refunded (issue 11, item 4) --
def transfer_reversed(txn) -> int:
    """What the Connect gateway says was reversed of the seller's transfer."""
    return SimulatedConnectGateway()._load("transfer", reload(txn).transfer_id)["amount_reversed_cents"]


def refuse_reversals(monkeypatch):
    def refuse(self, **kwargs):
        raise PaymentRefused("Insufficient funds in the connected account.", param="amount")

    monkeypatch.setattr(SimulatedConnectGateway, "create_transfer_reversal", refuse)


def test_after_release_the_reversal_comes_before_the_refund(client, monkeypatch):
    txn = release(paid_at_stripe(price_cents=10_000))
    calls = []
    real_reversal = SimulatedConnectGateway.create_transfer_reversal
    real_refund = StripePaymentGateway.create_refund

    def reversal(self, **kwargs):
        calls.append("reversal")
        return real_reversal(self, **kwargs)

    def refund(self, **kwargs):
        calls.append("refund")
        return real_refund(self, **kwargs)

    monkeypatch.setattr(SimulatedConnectGateway, "create_transfer_reversal", reversal)
    monkeypatch.setattr(StripePaymentGateway, "create_refund", refund)
    client.force_login(txn.seller)
    assert flash(post_refund(client, txn, "25.00")) == ["$25.00 was refunded to the buyer."]
    assert calls == ["reversal", "refund"]
    assert transfer_reversed(txn) == 2_500
    assert reconciles()
    calls.clear()
    post_refund(client, txn, "75.00", key="form-2")  # the rest: the whole transfer comes back
    assert calls == ["reversal", "refund"]
    assert transfer_reversed(txn) == 9_000 and reload(txn).status == S.REFUNDED
    assert reconciles()


def test_a_refused_reversal_refuses_the_sellers_refund_and_changes_nothing(client, monkeypatch, stripe_http):
    """The issue's input: a seller refunds after the payout and Stripe will not take the money
    back from their account. Before, the buyer was refunded and a debt booked; now nothing
    happens and the seller is told why."""
    txn = release(paid_at_stripe(price_cents=10_000))
    refuse_reversals(monkeypatch)
    client.force_login(txn.seller)
    for amount in ("20.00", "100.00"):  # partial and in full
        message = flash(post_refund(client, txn, amount, key=f"form-{amount}"))[-1]
        assert message.startswith("Nothing was refunded: Stripe would not take $")
        assert "Insufficient funds in the connected account" in message
    assert stripe_http.matching("POST", REFUNDS) == []  # no refund at Stripe
    assert refunded_at_stripe(txn) == 0
    assert set(LedgerEntry.objects.filter(transaction=txn).values_list("kind", flat=True)) == {
        K.CHARGE,
        K.PLATFORM_FEE,
        K.TRANSFER,
    }
    assert reload(txn).status == S.COMPLETED
    with pytest.raises(ServiceError) as excinfo:  # the debt path is staff's, not the seller's
        refund_issue(
            transaction=txn, amount_cents=1_000, actor=txn.seller, request_key="k", book_seller_debt=True
        )
    assert excinfo.value.code == ErrorCode.FORBIDDEN
    assert reconciles()


def test_staff_refund_after_a_refused_reversal_books_the_sellers_debt_with_a_reason(client, monkeypatch):
    txn = release(paid_at_stripe(price_cents=10_000))
    refuse_reversals(monkeypatch)
    staff = staff_with("refund_transaction")
    client.force_login(staff)
    page = client.get(reverse("payments:order", args=[txn.pk]))
    assert b'name="book_seller_debt"' in page.content  # after release, staff see the option
    # Without ticking it, staff are refused like the seller.
    response = client.post(refund_url(txn), {"amount": "30.00", "request_key": "s1", "reason": "Broken"})
    assert flash(response)[0].startswith("Nothing was refunded")
    assert refunded_at_stripe(txn) == 0
    response = client.post(
        refund_url(txn),
        {"amount": "30.00", "request_key": "s2", "reason": "Broken on arrival", "book_seller_debt": "yes"},
    )
    assert flash(response)[-1] == "$30.00 was refunded to the buyer."  # after the refusal's message
    totals = ledger_totals(txn)
    assert (totals[K.REFUND], totals[K.SELLER_DEBT], totals[K.TRANSFER_REVERSAL]) == (3_000, 3_000, 0)
    assert refunded_at_stripe(txn) == 3_000
    [decision] = StaffDecision.objects.filter(transaction=txn)
    assert (decision.kind, decision.actor_id, decision.reason) == (
        "refund_seller_debt",
        staff.pk,
        "Broken on arrival",
    )
    page = client.get(reverse("payments:order", args=[txn.pk]))
    assert b"data-owed" in page.content
    assert reconciles()


def test_staff_refund_in_full_from_the_admin_books_the_debt_when_asked(client, monkeypatch):
    txn = release(paid_at_stripe(price_cents=5_000))
    refuse_reversals(monkeypatch)
    client.force_login(staff_with("refund_transaction", "view_transaction"))
    changelist = reverse("admin:payments_transaction_changelist")
    action = {"action": "refund_in_full", "_selected_action": [str(txn.pk)], "apply": "yes"}
    client.post(changelist, {**action, "reason": "Counterfeit"})
    assert reload(txn).status == S.COMPLETED and refunded_at_stripe(txn) == 0  # refused
    client.post(changelist, {**action, "reason": "Counterfeit", "book_seller_debt": "on"})
    assert reload(txn).status == S.REFUNDED and refunded_at_stripe(txn) == 5_000
    assert ledger_totals(txn)[K.SELLER_DEBT] == 4_500
    assert StaffDecision.objects.get(transaction=txn).kind == "refund_seller_debt"
    assert reconciles()


def test_a_crash_between_the_reversal_and_the_refund_is_completed_by_a_retry_without_reversing_twice(
    client, monkeypatch
):
    txn = release(paid_at_stripe(price_cents=10_000))
    real = refunds._create_refund

    def crash(*args, **kwargs):
        raise RuntimeError("process killed")

    monkeypatch.setattr(refunds, "_create_refund", crash)
    with pytest.raises(RuntimeError):
        refund_issue(transaction=txn, amount_cents=2_000, actor=txn.seller, request_key="crash")
    assert transfer_reversed(txn) == 2_000  # reversed at Stripe...
    assert ledger_totals(txn)[K.TRANSFER_REVERSAL] == 0  # ...nothing booked (rolled back)
    assert refunded_at_stripe(txn) == 0
    monkeypatch.setattr(refunds, "_create_refund", real)
    refund_issue(transaction=txn, amount_cents=2_000, actor=txn.seller, request_key="crash")
    assert transfer_reversed(txn) == 2_000  # the same reversal answered again, not a second one
    totals = ledger_totals(txn)
    assert totals[K.TRANSFER_REVERSAL] == totals[K.REFUND] == 2_000
    assert refunded_at_stripe(txn) == 2_000
    assert reconciles()


def test_a_refund_stripe_refuses_after_the_reversal_keeps_the_reversal_and_a_retry_refunds(
    client, stripe_http
):
    txn = release(paid_at_stripe(price_cents=10_000))
    client.force_login(txn.seller)
    stripe_http.fail_next("POST", REFUNDS, status=500)
    [message] = flash(post_refund(client, txn, "10.00"))
    assert message.startswith(refunds.STRIPE_DOWN_MESSAGE)
    assert "$10.00 was taken back from the seller's payout" in message
    assert ledger_totals(txn)[K.TRANSFER_REVERSAL] == 1_000 and ledger_totals(txn)[K.REFUND] == 0
    assert not reconciles()  # reported until the buyer is refunded
    post_refund(client, txn, "10.00")  # the same form again: nothing more to reverse
    assert transfer_reversed(txn) == 1_000
    assert ledger_totals(txn)[K.REFUND] == 1_000 and refunded_at_stripe(txn) == 1_000
    assert reconciles()


def test_a_crash_after_the_refund_waits_for_the_webhook_which_books_the_same_reversal(client, monkeypatch):
    """Reversed and refunded at Stripe, then the process died before the commit. A retry is
    refused while Stripe is ahead of the ledger; the charge.refunded webhook books the refund and
    asks for the same reversal under the same key, so the seller is reversed once."""
    txn = release(paid_at_stripe(price_cents=10_000))
    real = refunds.transaction_refund

    def crash(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(refunds, "transaction_refund", crash)
    with pytest.raises(RuntimeError):
        refund_issue(transaction=txn, amount_cents=1_500, actor=txn.seller, request_key="k3")
    monkeypatch.setattr(refunds, "transaction_refund", real)
    assert (transfer_reversed(txn), refunded_at_stripe(txn)) == (1_500, 1_500)
    assert ledger_totals(txn)[K.REFUND] == 0

    with pytest.raises(ServiceError) as excinfo:
        refund_issue(transaction=txn, amount_cents=1_500, actor=txn.seller, request_key="k3")
    assert excinfo.value.code == ErrorCode.STALE
    assert (transfer_reversed(txn), refunded_at_stripe(txn)) == (1_500, 1_500)  # nothing moved

    stored = reload(txn)
    charge = charge_object(
        stored.charge_id, payment_intent=stored.payment_intent_id, amount=10_000, amount_refunded=1_500
    )
    assert post_event(client, stripe_event("charge.refunded", charge)).json()["outcome"] == "processed"
    totals = ledger_totals(txn)
    assert totals[K.REFUND] == totals[K.TRANSFER_REVERSAL] == 1_500
    assert transfer_reversed(txn) == 1_500  # the webhook's reversal was the same one
    assert reconciles()


def test_the_reversal_key_is_shared_by_the_refund_and_the_webhook_path():
    txn = paid(price_cents=10_000)
    assert refunds.reversal_key(txn, 9_000) == f"reversal-{txn.pk}-holds-9000"


# --- Refunds need payments.refund_transaction (issue 11, item 5) ---------------------------------
def test_the_refund_permission_exists_and_superusers_have_it():
    txn = paid()
    superuser = UserFactory(is_staff=True, is_superuser=True)
    assert superuser.has_perm("payments.refund_transaction")
    assert superuser.has_perm("payments.release_held_payout")
    assert not UserFactory(is_staff=True).has_perm("payments.refund_transaction")
    assert order_capabilities(superuser, txn).can_refund


def test_the_admin_refund_action_needs_the_permission(client):
    txn = paid_at_stripe(price_cents=5_000)
    changelist = reverse("admin:payments_transaction_changelist")
    client.force_login(staff_with("view_transaction"))  # may read the admin, not refund
    page = client.get(changelist)
    assert page.status_code == 200 and b"refund_in_full" not in page.content
    action = {"action": "refund_in_full", "_selected_action": [str(txn.pk)], "apply": "yes", "reason": "x"}
    client.post(changelist, action)  # forged: Django offers no such action to this user
    assert refunded_at_stripe(txn) == 0 and ledger_totals(txn)[K.REFUND] == 0
    client.force_login(staff_with("view_transaction", "refund_transaction"))
    assert b"refund_in_full" in client.get(changelist).content
    client.post(changelist, action)
    assert reload(txn).status == S.REFUNDED and refunded_at_stripe(txn) == 5_000


def test_the_seller_refunds_their_own_sale_without_any_permission(client):
    txn = paid_at_stripe(price_cents=5_000)
    assert not txn.seller.has_perm("payments.refund_transaction")
    client.force_login(txn.seller)
    page = client.get(reverse("payments:order", args=[txn.pk]))
    assert b"Refund the buyer" in page.content and b'name="reason"' not in page.content  # no reason asked
    post_refund(client, txn, "5.00")
    assert ledger_totals(txn)[K.REFUND] == 500
    assert not StaffDecision.objects.exists()  # the seller's right, not a staff decision


def test_staff_order_page_query_count(client, django_assert_num_queries):
    txn = paid_at_stripe(price_cents=5_000)
    client.force_login(staff_with("refund_transaction"))
    # session user, the order, the ledger, the staff member's permissions (user, groups)
    with django_assert_num_queries(5):
        assert b"Refund the buyer" in client.get(reverse("payments:order", args=[txn.pk])).content
