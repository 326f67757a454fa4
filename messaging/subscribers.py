"""What messaging does when something happens elsewhere.

At log-in the header's unread badge is counted once and cached, so the pages that follow
render it without a query until a send, read, archive, report or block drops it (or the
cache entry expires: ``MESSAGE_UNREAD_CACHE_SECONDS``).
"""

import logging

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from messaging.selectors import unread_count

logger = logging.getLogger(__name__)


@receiver(user_logged_in, dispatch_uid="messaging.prime_unread_badge")
def prime_unread_badge(sender, request, user, **kwargs) -> None:
    """Count ``user``'s unread messages into the cache; a failure never stops the log-in."""
    try:
        unread_count(user)
    except Exception:
        logger.exception("could not prime the unread badge of %s", user.pk)
