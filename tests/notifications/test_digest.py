"""The unread-message digest: mailed once, batched per recipient, cancelled by reading,
safe to run twice at once, and run by its periodic job."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from messaging.services import conversation_mark_read, conversation_open, message_send
from notifications.digest import mail_unread_messages
from notifications.models import MessageEmail, NotificationChannel, NotificationType
from notifications.preferences import preferences_set
from notifications.tasks import mail_unread_messages_job
from tests.factories import ListingFactory, SellerFactory, UserFactory
from tests.jobs import queued_jobs, run_jobs

pytestmark = pytest.mark.django_db

LATER = timedelta(minutes=20)  # past MESSAGE_EMAIL_DELAY_MINUTES (15)


def say(conversation, sender, body="Is it still available?"):
    message, _ = message_send(conversation=conversation, sender=sender, body=body, client_id=uuid.uuid4())
    return message


def digests() -> list[dict]:
    return [job for job in queued_jobs("marketplace.send_email") if "unread message" in job["subject"]]


@pytest.fixture
def seller_with_two_threads():
    seller = SellerFactory()
    threads = []
    for title in ("Walnut desk", "Oak chair"):
        buyer = UserFactory(first_name=title.split()[0] + "Fan")
        conversation, _ = conversation_open(
            buyer=buyer, seller=seller, listing=ListingFactory(seller=seller, title=title)
        )
        threads.append((conversation, buyer))
    return seller, threads


def test_one_email_per_recipient_listing_each_conversation(seller_with_two_threads):
    seller, threads = seller_with_two_threads
    (desk, desk_buyer), (chair, chair_buyer) = threads
    say(desk, desk_buyer)
    say(desk, desk_buyer, "Hello?")
    say(chair, chair_buyer)
    assert mail_unread_messages(now=timezone.now() + LATER) == 3
    [job] = digests()
    assert job["to"] == seller.email and job["subject"] == "You have 3 unread messages"
    assert "2 from" in job["text"] and "about Walnut desk" in job["text"] and "about Oak chair" in job["text"]
    assert f"/messages/{desk.pk}/" in job["html"] and f"/messages/{chair.pk}/" in job["html"]
    assert "Is it still available" not in job["text"]  # no message text by email
    assert job["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Never twice: a second run finds nothing.
    assert mail_unread_messages(now=timezone.now() + LATER) == 0
    assert len(digests()) == 1
    assert MessageEmail.objects.filter(recipient=seller, mailed=True).count() == 3


def test_reading_first_cancels_the_mail(seller_with_two_threads):
    seller, [(desk, buyer), _] = seller_with_two_threads
    say(desk, buyer)
    conversation_mark_read(conversation=desk, reader=seller)
    assert mail_unread_messages(now=timezone.now() + LATER) == 0
    assert digests() == []


def test_a_message_is_mailed_only_after_the_delay(seller_with_two_threads):
    seller, [(desk, buyer), _] = seller_with_two_threads
    say(desk, buyer)
    assert mail_unread_messages(now=timezone.now()) == 0
    assert mail_unread_messages(now=timezone.now() + LATER) == 1
    assert len(digests()) == 1


def test_history_past_the_max_age_is_not_mailed(seller_with_two_threads, settings):
    seller, [(desk, buyer), _] = seller_with_two_threads
    say(desk, buyer)
    assert (
        mail_unread_messages(now=timezone.now() + timedelta(hours=settings.MESSAGE_EMAIL_MAX_AGE_HOURS + 1))
        == 0
    )


def test_digest_turned_off_mails_nothing_and_marks_the_messages(seller_with_two_threads):
    seller, [(desk, buyer), _] = seller_with_two_threads
    preferences_set(
        user=seller, choices=[(NotificationType.MESSAGE_DIGEST, NotificationChannel.EMAIL, False)]
    )
    say(desk, buyer)
    assert mail_unread_messages(now=timezone.now() + LATER) == 1
    assert digests() == []
    assert MessageEmail.objects.get().mailed is False


def test_the_periodic_job_mails_and_the_mail_is_sent(seller_with_two_threads, settings, mailoutbox):
    settings.MESSAGE_EMAIL_DELAY_MINUTES = 0
    seller, [(desk, buyer), _] = seller_with_two_threads
    say(desk, buyer)
    mail_unread_messages_job.defer(timestamp=0)
    run_jobs()
    [sent] = [m for m in mailoutbox if "unread message" in m.subject]
    assert sent.to == [seller.email] and sent.alternatives and "List-Unsubscribe" in sent.extra_headers


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_mail_each_message_once(seller_with_two_threads):
    seller, threads = seller_with_two_threads
    for conversation, buyer in threads:
        for n in range(5):
            say(conversation, buyer, f"Message {n}")
    barrier = threading.Barrier(3)
    handled, errors = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            handled.append(mail_unread_messages(now=timezone.now() + LATER, batch=4))
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=run) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert sum(handled) == 10
    assert MessageEmail.objects.count() == 10
    # Every message is in exactly one email.
    counted = sum(int(job["subject"].split()[2]) for job in digests())
    assert counted == 10
