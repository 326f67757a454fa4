"""POST /payments/webhooks/stripe/: signed events, processed once, in any order."""

import json
import threading
import time
from unittest import mock

import pytest
from django.db import connections

from listings.models import Listing
from payments import webhooks
from payments.gateway import PaymentIntent, StripePaymentGateway
from payments.models import LedgerEntry, StripeEvent, Transaction
from payments.services import ledger_totals, transaction_refund
from tests.factories import SellerFactory
from tests.payments.conftest import TEST_WEBHOOK_SECRET
from tests.payments.purchase_helpers import next_id, paid, released, reload, start
from tests.payments.stripe_events import (
    WEBHOOK_PATH,
    account_object,
    charge_object,
    dispute_object,
    payment_intent_object,
    post_event,
    sign_payload,
    stripe_event,
)

S = Transaction.Status
K = LedgerEntry.Kind


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET


def succeeded_event(txn, *, payment_intent_id=None, amount=None, **kwargs):
    return stripe_event(
        "payment_intent.succeeded",
        payment_intent_object(
            payment_intent_id or next_id("pi"),
            amount=txn.total_cents if amount is None else amount,
            metadata={"transaction_id": str(txn.pk)},
            latest_charge=next_id("ch"),
        ),
        **kwargs,
    )


def intent_event(event_type, txn, *, status, **fields):
    obj = payment_intent_object(
        txn.payment_intent_id or next_id("pi"),
        amount=txn.total_cents,
        status=status,
        metadata={"transaction_id": str(txn.pk)},
    )
    obj.update(fields)
    return stripe_event(event_type, obj)


def refunded_event(txn, *, amount_refunded, refunds=None):
    charge = charge_object(
        txn.charge_id,
        payment_intent=txn.payment_intent_id,
        amount=txn.total_cents,
        amount_refunded=amount_refunded,
    )
    if refunds is not None:
        charge["refunds"] = {"object": "list", "data": refunds, "has_more": False}
    return stripe_event("charge.refunded", charge)


def dispute_event(event_type, txn, dispute_id, *, status="needs_response"):
    return stripe_event(
        event_type,
        dispute_object(
            dispute_id,
            charge=txn.charge_id,
            payment_intent=txn.payment_intent_id,
            amount=txn.total_cents,
            status=status,
        ),
    )


def ok(response, outcome=None):
    assert response.status_code == 200, response.content
    if outcome is not None:
        assert response.json()["outcome"] == outcome
    return response


# --- Signature ----------------------------------------------------------------------------------
@pytest.mark.django_db
class TestSignature:
    def test_valid_event_takes_effect_and_is_stored(self, client):
        txn = start()
        event = succeeded_event(txn)
        ok(post_event(client, event), "processed")
        txn = reload(txn)
        assert txn.status == S.PROCESSING
        assert txn.payment_intent_id == event["data"]["object"]["id"]
        assert txn.charge_id == event["data"]["object"]["latest_charge"]
        stored = StripeEvent.objects.get()
        assert (stored.event_id, stored.type, stored.object_id) == (
            event["id"],
            "payment_intent.succeeded",
            event["data"]["object"]["id"],
        )
        assert stored.payload == event
        assert stored.processed_at is not None
        assert int(stored.created.timestamp()) == event["created"]

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"secret": "whsec_someone_else"},
            {"timestamp": int(time.time()) - 3600},  # outside the default tolerance of 300 s
        ],
        ids=["wrong-secret", "expired"],
    )
    def test_bad_signature_is_400_and_changes_nothing(self, client, kwargs):
        txn = start()
        response = post_event(client, succeeded_event(txn), **kwargs)
        assert response.status_code == 400
        assert reload(txn).status == S.PENDING
        assert not StripeEvent.objects.exists()

    DAY = 24 * 60 * 60

    @pytest.mark.parametrize(
        ("signed_offset", "created_offset", "reason"),
        [
            (DAY, 0, "Timestamp outside the tolerance."),  # the input: a day ahead
            (301, 0, "Timestamp outside the tolerance."),  # just past the window, ahead
            (-DAY, 0, "Timestamp outside the tolerance."),
            (-301, 0, "Timestamp outside the tolerance."),  # just past the window, behind
            (0, DAY, "Event dated in the future."),  # signed now, the event itself ahead
        ],
        ids=["a-day-ahead", "just-ahead", "a-day-ago", "just-ago", "created-ahead"],
    )
    def test_correctly_signed_but_out_of_time_is_400_and_changes_nothing(
        self, client, signed_offset, created_offset, reason
    ):
        txn = start()
        now = int(time.time())
        event = succeeded_event(txn, created=now + created_offset)
        response = post_event(client, event, timestamp=now + signed_offset)
        assert response.status_code == 400
        assert response.content.decode() == reason
        assert reload(txn).status == S.PENDING
        assert not StripeEvent.objects.exists()

    @pytest.mark.parametrize("offset", [-290, 290], ids=["signed-just-ago", "signed-just-ahead"])
    def test_within_the_tolerance_either_side_is_processed(self, client, offset):
        txn = start()
        now = int(time.time())
        # A retried event was created long before this delivery: only the signature is recent.
        event = succeeded_event(txn, created=now - 3 * self.DAY)
        ok(post_event(client, event, timestamp=now + offset), "processed")
        assert reload(txn).status == S.PROCESSING
        assert StripeEvent.objects.get().event_id == event["id"]

    def test_tolerance_is_a_setting(self, client, settings):
        settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 3600
        txn = start()
        now = int(time.time())
        ok(post_event(client, succeeded_event(txn), timestamp=now + 1800), "processed")
        settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 60
        late = succeeded_event(start())
        assert post_event(client, late, timestamp=now - 120).status_code == 400
        assert not StripeEvent.objects.filter(event_id=late["id"]).exists()

    def test_missing_signature_is_400(self, client):
        txn = start()
        response = client.post(
            WEBHOOK_PATH, data=json.dumps(succeeded_event(txn)), content_type="application/json"
        )
        assert response.status_code == 400
        assert reload(txn).status == S.PENDING
        assert not StripeEvent.objects.exists()

    def test_tampered_payload_is_400(self, client):
        txn = start()
        payload = json.dumps(succeeded_event(txn))
        header = sign_payload(payload)
        response = client.post(
            WEBHOOK_PATH,
            data=payload.replace(str(txn.total_cents), "1", 1),
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=header,
        )
        assert response.status_code == 400
        assert not StripeEvent.objects.exists()

    @pytest.mark.parametrize("payload", ["{not json", '["a list"]', '{"id": "evt_1"}'])
    def test_malformed_payload_is_400(self, client, payload):
        response = client.post(
            WEBHOOK_PATH,
            data=payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=sign_payload(payload),
        )
        assert response.status_code == 400
        assert not StripeEvent.objects.exists()

    def test_unconfigured_secret_refuses(self, client, settings):
        payload = json.dumps(stripe_event("ping.test", {"id": "x"}))
        header = sign_payload(payload)
        settings.STRIPE_WEBHOOK_SECRET = ""
        response = client.post(
            WEBHOOK_PATH, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        )
        assert response.status_code == 400
        assert not StripeEvent.objects.exists()

    def test_get_is_not_allowed(self, client):
        assert client.get(WEBHOOK_PATH).status_code == 405


# --- Once, in any order --------------------------------------------------------------------------
@pytest.mark.django_db
class TestOnceAndOrder:
    def test_replay_has_one_effect(self, client):
        txn = start()
        event = succeeded_event(txn)
        ok(post_event(client, event), "processed")
        ok(post_event(client, event), "duplicate")
        assert StripeEvent.objects.count() == 1
        assert ledger_totals(txn)[K.CHARGE] == txn.total_cents
        assert LedgerEntry.objects.filter(transaction=txn, kind=K.CHARGE).count() == 1

    def test_same_payment_delivered_as_two_events_is_a_no_op(self, client):
        txn = start()
        first = succeeded_event(txn)
        ok(post_event(client, first), "processed")
        again = stripe_event("payment_intent.succeeded", first["data"]["object"])
        ok(post_event(client, again), "ignored")
        assert reload(txn).status == S.PROCESSING
        assert LedgerEntry.objects.filter(transaction=txn, kind=K.CHARGE).count() == 1

    @pytest.mark.parametrize("late", ["payment_intent.created", "payment_intent.processing"])
    def test_late_earlier_event_does_not_move_status_back(self, client, late):
        txn = start()
        ok(post_event(client, succeeded_event(txn, payment_intent_id=next_id("pi"))), "processed")
        txn = reload(txn)
        ok(post_event(client, intent_event(late, txn, status="requires_payment_method")), "ignored")
        ok(
            post_event(
                client, intent_event("payment_intent.payment_failed", txn, status="requires_payment_method")
            )
        )
        ok(post_event(client, intent_event("payment_intent.canceled", txn, status="canceled")), "ignored")
        after = reload(txn)
        assert after.status == S.PROCESSING
        assert "payment_failures" not in after.metadata
        assert after.listing.status == Listing.Status.RESERVED

    def test_handler_failure_rolls_back_the_event_so_a_retry_processes_it(self, client):
        txn = start()
        event = succeeded_event(txn)
        with mock.patch.object(
            webhooks, "transaction_mark_paid", side_effect=RuntimeError("database hiccup")
        ):
            response = post_event(client, event)
        assert response.status_code == 500
        assert not StripeEvent.objects.exists()
        assert reload(txn).status == S.PENDING
        ok(post_event(client, event), "processed")
        assert reload(txn).status == S.PROCESSING

    def test_unknown_event_is_acknowledged_and_stored(self, client):
        event = stripe_event("customer.created", {"id": "cus_123", "object": "customer"})
        ok(post_event(client, event), "ignored")
        assert StripeEvent.objects.get().type == "customer.created"

    def test_event_for_an_unknown_payment_is_acknowledged(self, client):
        event = stripe_event(
            "payment_intent.succeeded",
            payment_intent_object("pi_elsewhere", amount=500, latest_charge="ch_x"),
        )
        ok(post_event(client, event), "ignored")
        assert StripeEvent.objects.count() == 1

    def test_query_count_for_one_event(self, client, django_assert_max_num_queries):
        # Event insert and stamp, the lookup, and transaction_mark_paid's own locks and writes.
        txn = start()
        event = succeeded_event(txn)
        with django_assert_max_num_queries(21):
            ok(post_event(client, event), "processed")


# --- Payment intents -----------------------------------------------------------------------------
@pytest.mark.django_db
class TestPaymentIntents:
    def test_found_by_payment_intent_id_without_metadata(self, client):
        txn = start()
        payment_intent_id = next_id("pi")
        Transaction.objects.filter(pk=txn.pk).update(payment_intent_id=payment_intent_id)
        obj = payment_intent_object(payment_intent_id, amount=txn.total_cents, latest_charge="ch_by_pi")
        ok(post_event(client, stripe_event("payment_intent.succeeded", obj)), "processed")
        assert reload(txn).charge_id == "ch_by_pi"

    def test_wrong_amount_is_refused_and_acknowledged(self, client):
        txn = start()
        ok(post_event(client, succeeded_event(txn, amount=txn.total_cents - 1)), "refused")
        assert reload(txn).status == S.PENDING
        assert not LedgerEntry.objects.filter(transaction=txn).exists()
        assert StripeEvent.objects.count() == 1

    def test_payment_failed_is_recorded_and_leaves_the_purchase_pending(self, client):
        txn = start()
        event = intent_event(
            "payment_intent.payment_failed",
            txn,
            status="requires_payment_method",
            last_payment_error={
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Declined",
            },
        )
        ok(post_event(client, event), "processed")
        after = reload(txn)
        assert after.status == S.PENDING
        assert after.listing.status == Listing.Status.RESERVED
        [failure] = after.metadata["payment_failures"]
        assert failure["code"] == "insufficient_funds"
        assert failure["event"] == event["id"]
        # The buyer retries and pays.
        ok(post_event(client, succeeded_event(txn)), "processed")
        assert reload(txn).status == S.PROCESSING

    def test_canceled_cancels_and_releases_the_listing(self, client):
        txn = start()
        ok(post_event(client, intent_event("payment_intent.canceled", txn, status="canceled")), "processed")
        after = reload(txn)
        assert after.status == S.CANCELLED
        assert after.metadata["cancelled_by"] == "stripe"
        assert after.listing.status == Listing.Status.ACTIVE


# --- Refunds -------------------------------------------------------------------------------------
@pytest.mark.django_db
class TestRefunds:
    def test_dashboard_refund_is_booked_once_when_delivered_twice(self, client):
        txn = paid()
        event = refunded_event(txn, amount_refunded=txn.total_cents)
        ok(post_event(client, event), "processed")
        ok(post_event(client, event), "duplicate")
        # Stripe may also send the same state as a new event.
        ok(post_event(client, refunded_event(txn, amount_refunded=txn.total_cents)), "ignored")
        after = reload(txn)
        assert after.status == S.REFUNDED
        assert after.listing.status == Listing.Status.ACTIVE
        assert ledger_totals(after)[K.REFUND] == txn.total_cents

    def test_refund_already_booked_by_our_service_is_not_booked_again(self, client):
        txn = paid(price_cents=5000)
        transaction_refund(transaction=txn, amount_cents=1000, refund_id="re_ours", actor=None)
        refund = {"id": "re_ours", "object": "refund", "amount": 1000, "status": "succeeded"}
        ok(post_event(client, refunded_event(txn, amount_refunded=1000, refunds=[refund])), "ignored")
        ok(post_event(client, refunded_event(txn, amount_refunded=1000)), "ignored")
        assert ledger_totals(txn)[K.REFUND] == 1000
        assert reload(txn).status == S.PROCESSING

    def test_partial_refunds_by_id_and_out_of_order(self, client):
        txn = paid(price_cents=5000)
        first = {"id": "re_first", "object": "refund", "amount": 500, "status": "succeeded"}
        second = {"id": "re_second", "object": "refund", "amount": 700, "status": "succeeded"}
        # The later event (both refunds) arrives first; the earlier one then finds both booked.
        ok(
            post_event(client, refunded_event(txn, amount_refunded=1200, refunds=[second, first])),
            "processed",
        )
        ok(post_event(client, refunded_event(txn, amount_refunded=500, refunds=[first])), "ignored")
        ids = set(
            LedgerEntry.objects.filter(transaction=txn, kind=K.REFUND).values_list("external_id", flat=True)
        )
        assert ids == {"re_first", "re_second"}
        assert ledger_totals(txn)[K.REFUND] == 1200

    def test_refund_after_release_reverses_the_transfer(self, client):
        txn = released(seller=SellerFactory(stripe_connect_id=next_id("acct")))
        ok(post_event(client, refunded_event(txn, amount_refunded=txn.total_cents)), "processed")
        totals = ledger_totals(txn)
        assert reload(txn).status == S.REFUNDED
        assert totals[K.TRANSFER_REVERSAL] == totals[K.TRANSFER]

    def test_refund_beyond_the_rules_is_refused_and_acknowledged(self, client):
        txn = paid(price_cents=5000)
        # More than the seller payout, less than the total: the services refuse it.
        ok(post_event(client, refunded_event(txn, amount_refunded=txn.total_cents - 1)), "refused")
        assert ledger_totals(txn)[K.REFUND] == 0
        assert StripeEvent.objects.count() == 1


# --- Disputes ------------------------------------------------------------------------------------
@pytest.mark.django_db
class TestDisputes:
    @pytest.mark.parametrize(("outcome", "status"), [("won", S.PROCESSING), ("lost", S.REFUNDED)])
    def test_created_then_closed(self, client, outcome, status):
        txn = paid()
        ok(post_event(client, dispute_event("charge.dispute.created", txn, "dp_1")), "processed")
        assert reload(txn).status == S.DISPUTED
        closed = dispute_event("charge.dispute.closed", txn, "dp_1", status=outcome)
        ok(post_event(client, closed), "processed")
        ok(post_event(client, closed), "duplicate")
        after = reload(txn)
        assert after.status == status
        totals = ledger_totals(after)
        assert totals[K.DISPUTE] == txn.total_cents
        if outcome == "won":
            assert totals[K.DISPUTE_WON] == txn.total_cents
            assert after.listing.status == Listing.Status.RESERVED
        else:
            assert totals[K.PLATFORM_FEE_REVERSAL] == totals[K.PLATFORM_FEE]
            assert after.listing.status == Listing.Status.ACTIVE

    def test_closed_before_created(self, client):
        txn = paid()
        ok(
            post_event(client, dispute_event("charge.dispute.closed", txn, "dp_2", status="lost")),
            "processed",
        )
        ok(post_event(client, dispute_event("charge.dispute.created", txn, "dp_2")), "processed")
        after = reload(txn)
        assert after.status == S.REFUNDED
        assert LedgerEntry.objects.filter(transaction=txn, kind=K.DISPUTE).count() == 1

    def test_created_twice_books_once(self, client):
        txn = paid()
        ok(post_event(client, dispute_event("charge.dispute.created", txn, "dp_3")))
        ok(post_event(client, dispute_event("charge.dispute.created", txn, "dp_3")))
        assert LedgerEntry.objects.filter(transaction=txn, kind=K.DISPUTE).count() == 1

    def test_dispute_on_an_unpaid_purchase_is_refused(self, client):
        txn = start()
        Transaction.objects.filter(pk=txn.pk).update(charge_id="ch_unpaid")
        txn = reload(txn)
        ok(post_event(client, dispute_event("charge.dispute.created", txn, "dp_4")), "refused")
        assert reload(txn).status == S.PENDING


# --- Connect accounts ----------------------------------------------------------------------------
@pytest.mark.django_db
class TestAccountUpdated:
    def test_latest_event_is_the_payout_status(self, client):
        seller = SellerFactory(stripe_connect_id=next_id("acct"))
        assert webhooks.latest_account_update(seller) is None
        now = int(time.time())
        ready = stripe_event("account.updated", account_object(seller.stripe_connect_id), created=now)
        ok(post_event(client, ready), "processed")
        # An older event delivered late does not win.
        stale = stripe_event(
            "account.updated",
            account_object(seller.stripe_connect_id, payouts_enabled=False, charges_enabled=False),
            created=now - 60,
        )
        ok(post_event(client, stale), "processed")
        status = webhooks.latest_account_update(seller)
        assert status["payouts_enabled"] is True
        assert status["charges_enabled"] is True
        assert status["details_submitted"] is True
        assert status["account_id"] == seller.stripe_connect_id

        blocked = stripe_event(
            "account.updated",
            account_object(seller.stripe_connect_id, payouts_enabled=False),
            created=now + 60,
        )
        ok(post_event(client, blocked), "processed")
        assert webhooks.latest_account_update(seller)["payouts_enabled"] is False

    def test_unknown_account_is_acknowledged(self, client):
        ok(post_event(client, stripe_event("account.updated", account_object("acct_nobody"))), "ignored")
        assert StripeEvent.objects.count() == 1

    def test_user_without_account_has_no_status(self):
        assert webhooks.latest_account_update(SellerFactory(stripe_connect_id=None)) is None


# --- Concurrent duplicate deliveries --------------------------------------------------------------
def test_concurrent_duplicate_deliveries_have_one_effect(ledger_db):
    txn = start()
    event = succeeded_event(txn)
    barrier = threading.Barrier(4, timeout=20)
    responses = []

    def deliver():
        from django.test import Client

        try:
            barrier.wait()
            responses.append(post_event(Client(), event))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in responses) == [200] * 4
    assert sorted(r.json()["outcome"] for r in responses) == ["duplicate"] * 3 + ["processed"]
    assert StripeEvent.objects.count() == 1
    assert LedgerEntry.objects.filter(transaction=txn, kind=K.CHARGE).count() == 1
    assert reload(txn).status == S.PROCESSING


@pytest.mark.django_db
def test_charge_id_missing_from_the_payload_is_read_from_stripe(client):
    txn = start()
    event = succeeded_event(txn)
    event["data"]["object"]["latest_charge"] = None
    intent = PaymentIntent(
        id=event["data"]["object"]["id"],
        status="succeeded",
        amount_cents=txn.total_cents,
        amount_received_cents=txn.total_cents,
        currency="usd",
        charge_id="ch_from_stripe",
    )
    with mock.patch.object(StripePaymentGateway, "retrieve_payment_intent", return_value=intent) as retrieve:
        ok(post_event(client, event), "processed")
    retrieve.assert_called_once_with(event["data"]["object"]["id"])
    assert reload(txn).charge_id == "ch_from_stripe"


@pytest.mark.django_db
def test_account_updated_forgets_the_cached_payout_status(client, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    from payments.connect import _status_key

    seller = SellerFactory(stripe_connect_id="acct_cached")
    cache.set(_status_key("acct_cached"), "incomplete", 300)
    event = stripe_event("account.updated", account_object("acct_cached", payouts_enabled=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = post_event(client, event)
    assert response.status_code == 200
    assert cache.get(_status_key("acct_cached")) is None
    assert seller.stripe_connect_id == "acct_cached"
