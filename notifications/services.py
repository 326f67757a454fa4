"""Notifications: the one ``notify`` every event goes through, and marking them read.

``notify`` is called by subscribers (``notifications/subscribers.py`` and the
``notifications/<area>_subscribers.py`` modules), which run after the announcing change
committed. It writes the notification once per ``(user, type, key)`` (``INSERT ... ON
CONFLICT DO NOTHING`` on the ``notifications_notification_once`` constraint, so two
deliveries of the same event racing each other, a replayed webhook or a retried job still
make one row and one email), honours the member's preferences, queues the email in the same
transaction as the row, and pushes the header badge after commit.
"""

import json
import logging
from collections.abc import Callable

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from marketplace.events import after_commit
from notifications import emails
from notifications.badge import badge_changed
from notifications.models import Notification, NotificationChannel, NotificationType
from notifications.preferences import enabled_channels, preferences_cache_forget
from notifications.unsubscribe import unsubscribe_headers

logger = logging.getLogger(__name__)

EmailSender = Callable[[dict[str, str]], None]

_INSERT = """
INSERT INTO notifications_notification
    (id, user_id, type, title, message, link_url, link_text, metadata, key, in_app, read_at, created_at)
VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, '', %s, %s, %s, %s, STATEMENT_TIMESTAMP())
ON CONFLICT (user_id, type, key) DO NOTHING
RETURNING id
"""


def notify(
    *,
    user,
    type: NotificationType,
    title: str,
    message: str = "",
    link: str = "",
    metadata: dict | None = None,
    key: str,
    email: EmailSender | None = None,
) -> Notification | None:
    """Tell ``user`` about an event, once per ``(user, type, key)``.

    ``key`` is the event's identity (``f"order_paid:{txn.pk}"``). ``link`` is a site path
    (``/orders/<id>/``) the notification opens. Returns the new in-app notification; None when
    this event was already notified (nothing is sent again) or the member turned this type
    off in the app (the email, when on, still goes: a hidden row records the event).

    Email, when the member's preference for ``type`` is on: ``email(headers)`` queues the
    email the caller renders (the purchase emails of ``payments/emails.py``), else the generic
    notification email of ``notifications/emails.py``; ``headers`` carries the one-click
    unsubscribe (List-Unsubscribe, List-Unsubscribe-Post). The email is queued in the same
    transaction as the row, so an event is mailed exactly when it is recorded.
    After commit: the badge's cache is dropped and ``notification.count`` pushed to the
    member's pages. Raises ``ValueError`` on an unknown type or a blank key (a programming
    error, not user input).
    """
    if type not in NotificationType.values:
        raise ValueError(f"unknown notification type {type!r}")
    if not key:
        raise ValueError("notify needs the event's key")
    channels = enabled_channels(user.pk, type)
    in_app = channels[NotificationChannel.IN_APP]
    send_email = channels[NotificationChannel.EMAIL] and bool(getattr(user, "email", ""))
    if not in_app and not send_email:
        return None
    title = " ".join(title.split())[:255]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT,
                [
                    user.pk,
                    str(type),
                    title,
                    message,
                    link,
                    _json(metadata or {}),
                    key[:200],
                    in_app,
                    None if in_app else timezone.now(),
                ],
            )
            row = cursor.fetchone()
        if row is None:  # this event was notified already
            return None
        notification = Notification.objects.get(pk=row[0])
        if send_email:
            headers = unsubscribe_headers(user.pk, type)
            if email is not None:
                email(headers)
            else:
                emails.queue_notification_email(notification, user=user, headers=headers)
        if in_app:
            after_commit(badge_changed, user.pk)
    return notification if in_app else None


def _json(value: dict) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)


def notification_mark_read(*, notification: Notification, reader) -> bool:
    """Mark ``notification`` (the caller fetched it with ``selectors.access_notification``)
    read; True when it was unread. A conditional UPDATE: two clicks mark it once."""
    if notification.user_id != reader.pk:
        return False
    changed = Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    if changed:
        after_commit(badge_changed, reader.pk)
    return bool(changed)


def notifications_mark_all_read(*, reader) -> int:
    """Mark every unread notification of ``reader`` read; returns how many (one UPDATE on
    the partial unread index)."""
    changed = Notification.objects.filter(user_id=reader.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    if changed:
        after_commit(badge_changed, reader.pk)
    return changed


def notifications_mark_read_where(*, user_id, type: NotificationType, metadata: dict) -> int:
    """Mark ``user_id``'s unread notifications of ``type`` whose metadata contains
    ``metadata`` read (a conversation read clears its new-message notifications)."""
    changed = Notification.objects.filter(
        user_id=user_id, type=type, read_at__isnull=True, metadata__contains=metadata
    ).update(read_at=timezone.now())
    if changed:
        after_commit(badge_changed, user_id)
    return changed


# --- Account deletion (composed by privacy.services.account_delete) -------------------------
def notifications_forget_member(*, user) -> int:
    """Delete a deleting member's notifications and digest records, and turn every type off on
    every channel, so a late event (a review published about them) neither stores nor mails
    anything. Returns how many notifications were deleted."""
    from notifications.models import MessageEmail, NotificationPreference

    with transaction.atomic():
        deleted, _ = Notification.objects.filter(user_id=user.pk).delete()
        MessageEmail.objects.filter(recipient_id=user.pk).delete()
        NotificationPreference.objects.filter(user_id=user.pk).delete()
        NotificationPreference.objects.bulk_create(
            NotificationPreference(user_id=user.pk, type=type_, channel=channel, enabled=False)
            for type_ in NotificationType.values
            for channel in NotificationChannel.values
        )
        after_commit(preferences_cache_forget, user.pk)
    after_commit(badge_changed, user.pk)
    return deleted
