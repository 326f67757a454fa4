"""The signed one-click unsubscribe link every notification email carries (RFC 8058).

The token names the member and the notification type, signed with ``SALT`` (a salt of its
own, so no other signed value of the site can be replayed here). It does not expire: a link
in an old email must still work. The signature is the authority: the page needs no login.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from notifications.models import NotificationType

SALT = "notifications.unsubscribe"


def unsubscribe_token(user_id, type: str) -> str:
    return signing.dumps({"u": str(user_id), "t": str(type)}, salt=SALT, compress=True)


def unsubscribe_url(user_id, type: str) -> str:
    path = reverse("notifications:unsubscribe", args=[unsubscribe_token(user_id, type)])
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def read_unsubscribe_token(token: str) -> tuple[str, str] | None:
    """``(user_id, type)`` from a genuine token; None for a tampered, foreign or malformed one."""
    try:
        data = signing.loads(token, salt=SALT)
        user_id, type = str(data["u"]), str(data["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if type not in NotificationType.values:
        return None
    return user_id, type


def unsubscribe_headers(user_id, type: str) -> dict[str, str]:
    """The List-Unsubscribe (the HTTPS link, one-click) and List-Unsubscribe-Post headers."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(user_id, type)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
