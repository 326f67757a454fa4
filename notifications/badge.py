"""The header's unread-notifications badge: its cache key, and the live push after a change."""

from django.conf import settings
from django.core.cache import cache

from marketplace.events import send_event
from messaging.services import user_group
from notifications.models import Notification

UNREAD_CACHE_KEY = "notifications:unread:{user_id}"


def unread_count_for(user_id) -> int:
    """Unread in-app notifications of ``user_id``: one query on the partial unread index,
    cached ``NOTIFICATION_UNREAD_CACHE_SECONDS`` and dropped after every change."""
    key = UNREAD_CACHE_KEY.format(user_id=user_id)
    count = cache.get(key)
    if count is None:
        count = Notification.objects.filter(user_id=user_id, read_at__isnull=True, in_app=True).count()
        cache.set(key, count, timeout=settings.NOTIFICATION_UNREAD_CACHE_SECONDS)
    return count


def badge_changed(user_id) -> None:
    """After commit: drop the cached count and push the fresh one to the member's open pages
    (``notification.count`` on their messaging user group, the socket every page holds)."""
    cache.delete(UNREAD_CACHE_KEY.format(user_id=user_id))
    send_event(user_group(user_id), {"type": "notification.count", "count": unread_count_for(user_id)})
