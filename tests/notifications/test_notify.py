"""``notify``: one notification per (user, type, key), preferences honoured, the email queued
with the one-click unsubscribe headers, the badge pushed after commit."""

import threading

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from notifications.badge import UNREAD_CACHE_KEY, unread_count_for
from notifications.models import Notification, NotificationChannel, NotificationType
from notifications.preferences import enabled_channels, preferences_set
from notifications.services import notification_mark_read, notifications_mark_all_read, notify
from tests.factories import UserFactory
from tests.jobs import queued_jobs

pytestmark = pytest.mark.django_db

T = NotificationType


def _notify(user, type=T.PAYOUT_SENT, key="payout_sent:1", **kwargs):
    return notify(
        user=user, type=type, title="Your payout was sent", link="/payments/orders/", key=key, **kwargs
    )


def test_notifies_once_per_key():
    user = UserFactory()
    first = _notify(user)
    assert first is not None and first.link_url == "/payments/orders/"
    assert _notify(user) is None  # the same event again: nothing new, nothing mailed again
    assert Notification.objects.filter(user=user).count() == 1
    assert len(queued_jobs("marketplace.send_email")) == 1
    # Another key, or the same key for another member or type, is another event.
    assert _notify(user, key="payout_sent:2") is not None
    assert _notify(UserFactory()) is not None
    assert _notify(user, type=T.REFUND_ISSUED) is not None


def test_email_carries_the_unsubscribe_headers_and_both_parts():
    user = UserFactory(email="seller@example.com")
    _notify(user)
    [job] = queued_jobs("marketplace.send_email")
    assert job["to"] == "seller@example.com"
    assert job["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = job["headers"]["List-Unsubscribe"].strip("<>")
    assert "/notifications/unsubscribe/" in url
    assert url in job["text"] and url in job["html"]
    assert "Your payout was sent" in job["text"] and "<html" in job["html"]


def test_email_off_by_default_for_minor_types():
    user = UserFactory()
    assert _notify(user, type=T.REVIEW_RESPONSE, key="review_response:1") is not None
    assert queued_jobs("marketplace.send_email") == []


def test_in_app_off_still_mails_once_and_shows_nothing():
    user = UserFactory()
    preferences_set(user=user, choices=[(T.PAYOUT_SENT, NotificationChannel.IN_APP, False)])
    assert _notify(user) is None
    assert _notify(user) is None
    assert len(queued_jobs("marketplace.send_email")) == 1
    hidden = Notification.objects.get(user=user)
    assert hidden.in_app is False and hidden.read_at is not None
    assert unread_count_for(user.pk) == 0


def test_email_off_sends_no_email():
    user = UserFactory()
    preferences_set(user=user, choices=[(T.PAYOUT_SENT, NotificationChannel.EMAIL, False)])
    assert _notify(user) is not None
    assert queued_jobs("marketplace.send_email") == []


def test_both_off_records_nothing():
    user = UserFactory()
    preferences_set(
        user=user,
        choices=[
            (T.PAYOUT_SENT, NotificationChannel.EMAIL, False),
            (T.PAYOUT_SENT, NotificationChannel.IN_APP, False),
        ],
    )
    assert _notify(user) is None
    assert not Notification.objects.filter(user=user).exists()
    assert queued_jobs("marketplace.send_email") == []


def test_a_custom_email_sender_gets_the_headers():
    user = UserFactory()
    sent = []
    _notify(user, email=sent.append)
    _notify(user, email=sent.append)
    assert len(sent) == 1 and "List-Unsubscribe" in sent[0]
    assert queued_jobs("marketplace.send_email") == []  # the caller's sender replaced the generic one


def test_preferences_upsert_and_defaults():
    user = UserFactory()
    assert enabled_channels(user.pk, T.NEW_MESSAGE) == {"in_app": False, "email": False}
    assert enabled_channels(user.pk, T.LISTING_SOLD) == {"in_app": True, "email": True}
    assert enabled_channels(user.pk, T.MESSAGE_DIGEST) == {"in_app": False, "email": True}
    preferences_set(user=user, choices=[(T.NEW_MESSAGE, NotificationChannel.EMAIL, True)])
    preferences_set(user=user, choices=[(T.NEW_MESSAGE, NotificationChannel.EMAIL, True)])
    assert enabled_channels(user.pk, T.NEW_MESSAGE) == {"in_app": False, "email": True}
    with pytest.raises(ValueError):
        preferences_set(user=user, choices=[("bogus", NotificationChannel.EMAIL, True)])


@pytest.mark.parametrize("bad", [{"key": ""}, {"type": "bogus"}])
def test_programming_errors_are_refused(bad):
    with pytest.raises(ValueError):
        notify(**{"user": UserFactory(), "type": T.ACCOUNT, "title": "x", "key": "k", **bad})


def test_badge_is_cached_dropped_and_pushed_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    pushed = []
    monkeypatch.setattr(
        "notifications.badge.send_event", lambda group, payload: pushed.append((group, payload))
    )
    user = UserFactory()
    assert unread_count_for(user.pk) == 0
    assert cache.get(UNREAD_CACHE_KEY.format(user_id=user.pk)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        notification = _notify(user)
    assert pushed == [(f"user-{user.pk}", {"type": "notification.count", "count": 1})]
    with django_capture_on_commit_callbacks(execute=True):
        assert notification_mark_read(notification=notification, reader=user) is True
        assert notification_mark_read(notification=notification, reader=user) is False
    assert pushed[-1][1]["count"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        _notify(user, key="a")
        _notify(user, key="b")
        assert notifications_mark_all_read(reader=user) == 2
    assert unread_count_for(user.pk) == 0


def test_nothing_is_pushed_for_a_rolled_back_notification(django_capture_on_commit_callbacks, monkeypatch):
    pushed = []
    monkeypatch.setattr("notifications.badge.send_event", lambda group, payload: pushed.append(payload))
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        _notify(user)
        raise RuntimeError("the change that caused it failed")
    assert pushed == [] and not Notification.objects.filter(user=user).exists()
    assert queued_jobs("marketplace.send_email") == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_notify_once():
    """Eight real connections deliver the same event at once: one row, one email job."""
    user = UserFactory()
    barrier = threading.Barrier(8)
    results, errors = [], []

    def deliver():
        try:
            barrier.wait(timeout=10)
            results.append(_notify(user, key="order_paid:race"))
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(result is not None for result in results) == 1
    assert Notification.objects.filter(user=user, key="order_paid:race").count() == 1
    assert len(queued_jobs("marketplace.send_email")) == 1
