"""At log-in the header's unread-notifications badge is counted once and cached, so the pages
that follow show it without a query (as ``messaging.subscribers`` does for messages)."""

import logging

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from notifications.badge import unread_count_for

logger = logging.getLogger(__name__)


@receiver(user_logged_in, dispatch_uid="notifications.prime_unread_badge")
def prime_unread_badge(sender, request, user, **kwargs) -> None:
    """Count ``user``'s unread notifications into the cache; a failure never stops the log-in."""
    try:
        unread_count_for(user.pk)
    except Exception:
        logger.exception("could not prime the notifications badge of %s", user.pk)
