"""The notification email: one per event, HTML and plain text, with the one-click unsubscribe.

Events whose email has its own template (the purchase emails of ``payments/emails.py``) pass
their sender to ``notify``; every other type is mailed with the generic template here.
Every email is queued (``marketplace.mail.queue_email``): a job sends it, with retries.
"""

from django.conf import settings
from django.template.loader import render_to_string

from marketplace.mail import queue_email
from notifications.unsubscribe import unsubscribe_url

TEMPLATE = "emails/notifications/notification"


def absolute(link: str) -> str:
    """A site path as a full URL for an email (links already absolute are kept)."""
    if not link or link.startswith(("http://", "https://")):
        return link
    return f"{settings.SITE_URL.rstrip('/')}{link}"


def queue_notification_email(notification, *, user, headers: dict[str, str]) -> None:
    """Queue the generic email of ``notification`` to ``user`` (in the caller's transaction)."""
    context = {
        "notification": notification,
        "recipient_name": user.first_name,
        "link": absolute(notification.link_url),
        "unsubscribe_url": unsubscribe_url(user.pk, notification.type),
        "type_label": notification.get_type_display(),
        "subject": notification.title,
    }
    queue_email(
        to=user.email,
        subject=notification.title,
        text=render_to_string(f"{TEMPLATE}.txt", context),
        html=render_to_string(f"{TEMPLATE}.html", context),
        headers=headers,
    )
