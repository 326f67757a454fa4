"""Who wants what: a member's choice per notification type and channel (in the app, email).

A member without a row for a (type, channel) gets the default below; the profile's settings
form writes a row for every choice it shows, and the one-click unsubscribe link writes one.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction

from marketplace.events import after_commit
from notifications.models import NotificationChannel, NotificationPreference, NotificationType

T = NotificationType
Channel = NotificationChannel

# Email is on by default for the events that matter: money, disputes, review requests,
# unread messages (the digest) and what the member asked to be mailed about. Everything else
# is in the app only until the member asks.
EMAIL_ON_BY_DEFAULT = frozenset(
    {
        T.LISTING_SOLD,
        T.PAYMENT_RECEIVED,
        T.ORDER_PAID,
        T.PURCHASE_CONFIRMED,
        T.PAYOUT_SENT,
        T.REFUND_ISSUED,
        T.DISPUTE_OPENED,
        T.DISPUTE_CLOSED,
        T.REVIEW_REQUESTED,
        T.MESSAGE_DIGEST,
        # Asked for by the member: a saved search's alert frequency is its own opt-in, and
        # an export is mailed when it is ready.
        T.SAVED_SEARCH_MATCH,
        T.DATA_EXPORT_READY,
        T.ACCOUNT,
    }
)
# Messages have their own header badge and inbox: a notification per message (or per digest)
# would count each twice, so these are off in the app until the member turns them on.
IN_APP_OFF_BY_DEFAULT = frozenset({T.NEW_MESSAGE, T.MESSAGE_DIGEST})

# Values kept for rows written before the current types; nothing sends them now, so the
# settings form does not offer them.
LEGACY = frozenset({T.PURCHASE_CONFIRMED, T.PAYMENT_RECEIVED, T.LISTING_FAVORITED})


def default_enabled(type: str, channel: str) -> bool:
    if channel == Channel.EMAIL:
        return type in EMAIL_ON_BY_DEFAULT
    return type not in IN_APP_OFF_BY_DEFAULT


@dataclass(frozen=True)
class Choice:
    type: str
    label: str
    in_app: bool
    email: bool


def enabled_channels(user_id, type: str) -> dict[str, bool]:
    """``{"in_app": bool, "email": bool}`` for ``user_id`` and ``type``: one query."""
    chosen = dict(
        NotificationPreference.objects.filter(user_id=user_id, type=type).values_list("channel", "enabled")
    )
    return {channel: chosen.get(channel, default_enabled(type, channel)) for channel in Channel.values}


PREFERENCES_CACHE_KEY = "notification-preferences:{user_id}:{type}"
PREFERENCES_CACHE_SECONDS = 3600


def enabled_channels_cached(user_id, type: str) -> dict[str, bool]:
    """:func:`enabled_channels` through the cache (one Redis read; the query on a miss).
    For the hot paths that only decide whether to queue anything at all (every message sent:
    ``notifications.subscribers.queue_new_message_notification``); the job itself asks the
    database again. Dropped after commit by every write of preferences."""
    key = PREFERENCES_CACHE_KEY.format(user_id=user_id, type=type)
    channels = cache.get(key)
    if channels is None:
        channels = enabled_channels(user_id, type)
        cache.set(key, channels, timeout=PREFERENCES_CACHE_SECONDS)
    return channels


def preferences_cache_forget(user_id, types: Iterable[str] = T.values) -> None:
    """Drop the cached choices of ``user_id`` for ``types`` (after commit of a write)."""
    cache.delete_many([PREFERENCES_CACHE_KEY.format(user_id=user_id, type=type) for type in set(types)])


def preference_choices(user) -> list[Choice]:
    """Every type the member can choose about, with their choice on each channel: one query."""
    chosen = {
        (row.type, row.channel): row.enabled
        for row in NotificationPreference.objects.filter(user_id=user.pk).only("type", "channel", "enabled")
    }
    return [
        Choice(
            type=value,
            label=label,
            in_app=chosen.get((value, Channel.IN_APP), default_enabled(value, Channel.IN_APP)),
            email=chosen.get((value, Channel.EMAIL), default_enabled(value, Channel.EMAIL)),
        )
        for value, label in T.choices
        if value not in LEGACY
    ]


def preferences_set(*, user, choices: Iterable[tuple[str, str, bool]]) -> int:
    """Store ``(type, channel, enabled)`` choices for ``user`` (an upsert per choice, so a
    concurrent save or unsubscribe never fails on the unique constraint); returns how many.
    ``ValueError`` on an unknown type or channel
    (the callers validate first)."""
    rows = []
    for type, channel, enabled in choices:
        if type not in T.values or channel not in Channel.values:
            raise ValueError(f"unknown notification type or channel: {type}/{channel}")
        rows.append(NotificationPreference(user=user, type=type, channel=channel, enabled=bool(enabled)))
    if rows:
        with transaction.atomic():
            NotificationPreference.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["user", "type", "channel"],
                update_fields=["enabled", "updated_at"],
            )
            after_commit(preferences_cache_forget, user.pk, tuple(row.type for row in rows))
    return len(rows)
