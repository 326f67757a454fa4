"""What messaging does when something happens elsewhere.

At log-in the header's unread badge is counted once and cached, so the pages that follow
render it without a query until a send, read, archive, report or block drops it (or the
cache entry expires: ``MESSAGE_UNREAD_CACHE_SECONDS``). When a buyer pays, the pair's open
conversation sockets are told that contact details are shared.
"""

import logging

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from marketplace.events import send_events_on_commit
from messaging.selectors import unread_count
from messaging.services import user_group
from payments import hooks as payments_hooks

logger = logging.getLogger(__name__)


@receiver(user_logged_in, dispatch_uid="messaging.prime_unread_badge")
def prime_unread_badge(sender, request, user, **kwargs) -> None:
    """Count ``user``'s unread messages into the cache; a failure never stops the log-in."""
    try:
        unread_count(user)
    except Exception:
        logger.exception("could not prime the unread badge of %s", user.pk)


@payments_hooks.order_paid.subscribe
def announce_contact_shared(transaction) -> None:
    """The buyer paid: from now on nothing is masked between the two (``messaging.masking``).
    Their open conversation sockets hear it and stop masking the next message at once, rather
    than asking the database again on a timer."""
    event = {
        "type": "contact.shared",
        "buyer_id": str(transaction.buyer_id),
        "seller_id": str(transaction.seller_id),
    }
    send_events_on_commit([user_group(transaction.buyer_id), user_group(transaction.seller_id)], event)
