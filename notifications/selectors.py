"""Notification reads: the centre's pages, one notification for its owner, the badge count."""

from django.conf import settings
from django.http import Http404

from marketplace.pagination import KeysetPage, newest_first_page
from notifications.badge import unread_count_for
from notifications.models import Notification

CURSOR_SALT = "notifications.centre"


def notification_page(*, user, cursor: str | None) -> KeysetPage:
    """One page of ``user``'s in-app notifications, newest first (``NOTIFICATIONS_PAGE_SIZE``,
    keyset on (created_at, id)). One query whatever the page."""
    queryset = Notification.objects.filter(user_id=user.pk, in_app=True).only(
        "id", "type", "title", "message", "link_url", "read_at", "created_at"
    )
    return newest_first_page(
        queryset, field="created_at", cursor=cursor, salt=CURSOR_SALT, limit=settings.NOTIFICATIONS_PAGE_SIZE
    )


def access_notification(user, notification_id) -> Notification:
    """``user``'s own in-app notification; ``Http404`` for anyone else's, as for an unknown id."""
    notification = Notification.objects.filter(pk=notification_id, user_id=user.pk, in_app=True).first()
    if notification is None:
        raise Http404("No such notification.")
    return notification


def unread_count(user) -> int:
    """The header badge: ``user``'s unread in-app notifications (cached; see ``badge``)."""
    if not user.is_authenticated:
        return 0
    return unread_count_for(user.pk)
