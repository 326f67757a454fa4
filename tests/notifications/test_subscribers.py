"""Each event notifies each party exactly once, also when Stripe replays its webhook or a
hook is delivered again, and its email (the purchase emails of payments/emails.py) goes
through the job queue with the one-click unsubscribe headers."""

import uuid

import pytest
from django.core import mail

from messaging.services import conversation_mark_read, conversation_open, message_send
from notifications.models import Notification, NotificationChannel
from notifications.models import NotificationType as T
from notifications.preferences import preferences_set
from payments import hooks as payments_hooks
from payments.models import Transaction
from reviews.services import review_respond, review_submit
from tests.factories import ListingFactory, UserFactory
from tests.jobs import queued_jobs, run_jobs
from tests.payments.conftest import TEST_WEBHOOK_SECRET
from tests.payments.purchase_helpers import paid, release, start
from tests.payments.stripe_events import (
    charge_object,
    dispute_object,
    payment_intent_object,
    post_event,
    stripe_event,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _stripe(settings):
    settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET
    settings.STRIPE_CONNECT_SIMULATED = True


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run what happens after commit (the hooks, then notify's badge push) at once."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def of(user, type=None) -> list[Notification]:
    found = Notification.objects.filter(user=user)
    if type is not None:
        found = found.filter(type=type)
    return list(found)


def mails_to(user) -> list[dict]:
    return [job for job in queued_jobs("marketplace.send_email") if job["to"] == user.email]


def paid_event(txn):
    return stripe_event(
        "payment_intent.succeeded",
        payment_intent_object(
            "pi_notify",
            amount=txn.total_cents,
            metadata={"transaction_id": str(txn.pk)},
            latest_charge="ch_n",
        ),
    )


def test_a_paid_purchase_notifies_seller_and_buyer_once_on_a_replayed_webhook(client, after_commit):
    txn = start(price_cents=4_200)
    event = paid_event(txn)
    with after_commit():
        assert post_event(client, event).json()["outcome"] == "processed"
    with after_commit():
        assert post_event(client, event).json()["outcome"] == "duplicate"
        # Stripe may also send the same state as a new event.
        again = stripe_event("payment_intent.succeeded", event["data"]["object"])
        assert post_event(client, again).status_code == 200
    [sold] = of(txn.seller)
    assert sold.type == T.LISTING_SOLD and sold.link_url == f"/payments/orders/{txn.pk}/"
    [receipt] = of(txn.buyer)
    assert receipt.type == T.ORDER_PAID
    # One email each: the purchase emails are the notifications' email channel.
    [sale_mail] = mails_to(txn.seller)
    [receipt_mail] = mails_to(txn.buyer)
    assert sale_mail["subject"].startswith("You sold") and receipt_mail["subject"].startswith("Your receipt")
    for job in (sale_mail, receipt_mail):
        assert job["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert job["headers"]["List-Unsubscribe"].strip("<>") in job["text"]
        assert job["html"]
    assert run_jobs() == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted([txn.seller.email, txn.buyer.email])
    assert all("List-Unsubscribe" in m.extra_headers for m in mail.outbox)


def test_a_hook_delivered_twice_notifies_once(after_commit):
    with after_commit():
        txn = paid()
    payments_hooks.order_paid(txn)  # a retried delivery of the same event
    assert len(of(txn.seller, T.LISTING_SOLD)) == 1 and len(of(txn.buyer, T.ORDER_PAID)) == 1
    assert len(queued_jobs("marketplace.send_email")) == 2


def test_release_notifies_the_payout_and_asks_both_for_reviews_once(after_commit):
    with after_commit():
        txn = paid()
    with after_commit():
        txn = release(txn)
    payments_hooks.order_completed(txn)  # again: nothing new
    assert len(of(txn.seller, T.PAYOUT_SENT)) == 1
    assert len(of(txn.seller, T.REVIEW_REQUESTED)) == 1 and len(of(txn.buyer, T.REVIEW_REQUESTED)) == 1
    assert [job["subject"][:15] for job in mails_to(txn.seller)].count("Your payout for") == 1


def refund_event(txn, amount, refund_id):
    charge = charge_object(
        txn.charge_id, payment_intent=txn.payment_intent_id, amount=txn.total_cents, amount_refunded=amount
    )
    charge["refunds"] = {
        "object": "list",
        "data": [{"id": refund_id, "object": "refund", "amount": amount, "status": "succeeded"}],
        "has_more": False,
    }
    return stripe_event("charge.refunded", charge)


def test_a_refund_notifies_each_party_once_on_a_replayed_webhook(client, after_commit):
    with after_commit():
        txn = paid(price_cents=5_000)
    event = refund_event(txn, 1_000, "re_notify")
    with after_commit():
        post_event(client, event)
        post_event(client, event)
    assert len(of(txn.buyer, T.REFUND_ISSUED)) == 1 and len(of(txn.seller, T.REFUND_ISSUED)) == 1
    assert [j["subject"] for j in mails_to(txn.buyer) if "refunded" in j["subject"]] == [
        "You were refunded $10.00 for " + txn.listing.title
    ]
    # A second, different partial refund is another event.
    with after_commit():
        post_event(client, refund_event(txn, 1_500, "re_notify_2"))
    assert len(of(txn.buyer, T.REFUND_ISSUED)) == 2


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_a_dispute_opened_and_closed_notifies_both_once(client, after_commit, outcome):
    with after_commit():
        txn = paid()

    def dispute(event_type, status="needs_response"):
        return stripe_event(
            event_type,
            dispute_object(
                "dp_notify",
                charge=txn.charge_id,
                payment_intent=txn.payment_intent_id,
                amount=txn.total_cents,
                status=status,
            ),
        )

    with after_commit():
        opened = dispute("charge.dispute.created")
        post_event(client, opened)
        post_event(client, opened)
        closed = dispute("charge.dispute.closed", outcome)
        post_event(client, closed)
        post_event(client, closed)
    for party in (txn.buyer, txn.seller):
        assert len(of(party, T.DISPUTE_OPENED)) == 1
        [ended] = of(party, T.DISPUTE_CLOSED)
        assert ended.metadata["won"] is (outcome == "won")
        assert len([j for j in mails_to(party) if "dispute" in j["subject"].lower()]) == 2


def test_reviews_received_and_responded_notify_once(after_commit):
    with after_commit():
        txn = release(paid())
    txn = Transaction.objects.get(pk=txn.pk)
    with after_commit():
        review_submit(transaction=txn, author=txn.buyer, rating=5, title="Great seller")
    assert of(txn.seller, T.REVIEW_RECEIVED) == []  # blind: published when both reviewed
    with after_commit():
        seller_review = review_submit(transaction=txn, author=txn.seller, rating=4)
    [received] = of(txn.seller, T.REVIEW_RECEIVED)
    assert "(5/5)" in received.title and received.message == "Great seller"
    assert len(of(txn.buyer, T.REVIEW_RECEIVED)) == 1
    with after_commit():
        review_respond(review=seller_review, author=txn.buyer, response="Thanks!")
    assert len(of(txn.seller, T.REVIEW_RESPONSE)) == 1


def test_a_new_message_notifies_nothing_by_default(after_commit):
    """Messages have their own badge and the digest email: no notification per message."""
    buyer, seller = UserFactory(), UserFactory()
    conversation, _ = conversation_open(buyer=buyer, seller=seller, listing=None)
    with after_commit():
        message_send(conversation=conversation, sender=buyer, body="Hello", client_id=uuid.uuid4())
    with after_commit():
        run_jobs()
    assert of(seller) == []


def test_a_new_message_notifies_the_recipient_masked_and_reading_clears_it(after_commit):
    buyer, seller = UserFactory(), UserFactory()
    preferences_set(user=seller, choices=[(T.NEW_MESSAGE, NotificationChannel.IN_APP, True)])
    conversation, _ = conversation_open(buyer=buyer, seller=seller, listing=None)
    client_id = uuid.uuid4()
    with after_commit():
        message_send(
            conversation=conversation, sender=buyer, body="Mail me at me@example.com", client_id=client_id
        )
        message_send(
            conversation=conversation, sender=buyer, body="Mail me at me@example.com", client_id=client_id
        )
    # The socket's thread only queued it: the worker tells the recipient.
    assert of(seller) == [] and len(queued_jobs("notifications.notify_new_message")) == 1
    with after_commit():
        run_jobs()
    [note] = of(seller, T.NEW_MESSAGE)
    assert "me@example.com" not in note.message and note.read_at is None
    assert of(buyer) == []
    assert queued_jobs("marketplace.send_email") == []  # unread messages are mailed by the digest
    with after_commit():
        conversation_mark_read(conversation=conversation, reader=seller)
    note.refresh_from_db()
    assert note.read_at is not None


def test_preferences_are_honoured_per_type_and_channel(after_commit):
    seller, buyer = UserFactory(), UserFactory()
    preferences_set(user=seller, choices=[(T.LISTING_SOLD, NotificationChannel.EMAIL, False)])
    preferences_set(user=buyer, choices=[(T.ORDER_PAID, NotificationChannel.IN_APP, False)])
    with after_commit():
        paid(listing=ListingFactory(seller=seller), buyer=buyer)
    assert len(of(seller, T.LISTING_SOLD)) == 1 and mails_to(seller) == []
    assert Notification.objects.filter(user=buyer, in_app=True).count() == 0
    assert len(mails_to(buyer)) == 1
