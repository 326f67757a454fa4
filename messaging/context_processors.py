"""The header's unread-messages badge, for every page."""

from django.utils.functional import SimpleLazyObject

from messaging.selectors import unread_count


def unread_messages(request) -> dict:
    """``unread_messages``: the signed-in member's unread count, computed (one cached query)
    only when a template shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"unread_messages": 0}
    return {"unread_messages": SimpleLazyObject(lambda: unread_count(user))}
