"""The gateway's errors: what callers catch instead of the provider library's exceptions.

Three kinds, because callers do three different things with them:

- ``PaymentDeclined``: the card was declined. Show ``user_message`` to the buyer; another card
  may work.
- ``PaymentRefused``: the provider refused the request (an invalid request, a key reused with
  other parameters, a transfer the balance cannot cover). Retrying it unchanged is refused
  again: book or report it.
- ``PaymentUnavailable``: the provider could not be reached, timed out, failed (5xx) or
  rate-limited us. Nothing is known to have happened: retry later with the same idempotency key.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of the gateway's errors.

    ``message`` is the provider's text (for logs); ``user_message`` is the part safe to show
    (None if the provider gave none); ``code`` is the provider's error code
    ("card_declined", "resource_missing", ...), ``param`` the request parameter it names.
    """

    def __init__(
        self,
        message: str,
        *,
        user_message: str | None = None,
        code: str | None = None,
        param: str | None = None,
        http_status: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.user_message = user_message
        self.code = code
        self.param = param
        self.http_status = http_status


class PaymentDeclined(GatewayError):
    """The card was declined; ``user_message`` says why, ``decline_code`` is the bank's reason
    ("insufficient_funds", "generic_decline", ...) when the provider gives one."""

    DEFAULT_MESSAGE = "Your card was declined."

    def __init__(self, message: str, *, decline_code: str | None = None, **kwargs):
        kwargs.setdefault("user_message", message or self.DEFAULT_MESSAGE)
        super().__init__(message or self.DEFAULT_MESSAGE, **kwargs)
        self.user_message: str = self.user_message or self.DEFAULT_MESSAGE
        self.decline_code = decline_code


class PaymentRefused(GatewayError):
    """The provider refused the request; the same request would be refused again."""


class PaymentUnavailable(GatewayError):
    """The provider could not be reached or failed; retry later with the same key."""


class InvalidWebhook(Exception):
    """The request is not a genuine, readable webhook event of the provider."""
