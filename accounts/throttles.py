"""Rate limits of the account pages; the numbers are settings (read at call time).

Log-in failures and account emails are counted per client address and per *account*: the
account identity is the one the address resolves to (``account_identity``), so every spelling
of an address that logs into an account (case, and the letters PostgreSQL's ``upper()`` folds
onto ASCII: ``ſ`` for ``s``, ``ı`` for ``i``) shares that account's counter. Log-in is counted
in the authentication backend (``accounts.backends.ThrottledModelBackend``), so the site's
log-in, the admin's and any other caller of ``authenticate()`` go through the same throttle.
"""

import math

from django.conf import settings
from django.db import connection

from accounts.models import User
from marketplace.ratelimit import RateLimit


class LoginThrottled(Exception):  # noqa: N818 (not an error: a refusal with a wait)
    """Raised by the authentication backend past a log-in limit, before any password check.

    Deliberately not ``PermissionDenied``: ``authenticate()`` would swallow that into "wrong
    password". The site's log-in view renders its form with 429; ``LoginThrottleMiddleware``
    answers 429 for every other entry point (the admin's log-in)."""

    message = "Too many failed log-in attempts."

    def __init__(self, retry_after: int):
        super().__init__(f"{self.message} Retry after {retry_after} s.")
        self.retry_after = retry_after


def _login_per_ip() -> RateLimit:
    return RateLimit("login-ip", settings.LOGIN_FAILURES_PER_IP, settings.LOGIN_LOCKOUT_SECONDS)


def _login_per_account() -> RateLimit:
    return RateLimit("login-account", settings.LOGIN_FAILURES_PER_ACCOUNT, settings.LOGIN_LOCKOUT_SECONDS)


def _signups_per_ip() -> RateLimit:
    return RateLimit("signup-ip", settings.SIGNUPS_PER_IP, settings.SIGNUP_WINDOW_SECONDS)


def _emails_per_ip() -> RateLimit:
    return RateLimit(
        "account-email-ip", settings.ACCOUNT_EMAILS_PER_IP, settings.ACCOUNT_EMAIL_WINDOW_SECONDS
    )


def _emails_per_address() -> RateLimit:
    return RateLimit(
        "account-email-address", settings.ACCOUNT_EMAILS_PER_ADDRESS, settings.ACCOUNT_EMAIL_WINDOW_SECONDS
    )


def _db_upper(text: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT UPPER(%s)", [text])
        return cursor.fetchone()[0]


def identity_of(user) -> str:
    return f"account:{user.pk}"


def account_identity(email: str, user=None) -> str:
    """The throttle identity of a typed address.

    The account it resolves to (``email__iexact``, what the log-in and the password reset
    look up), or, when none does, the address as PostgreSQL's ``UPPER()`` folds it: the very
    comparison ``iexact`` makes, so every spelling of one unknown address shares a counter just
    as the spellings of a known one do, and the throttle never tells which addresses exist.
    Pass ``user`` when the caller already resolved it (one query saved).
    """
    email = (email or "").strip()
    if not email:
        return ""
    if user is None:
        user = User.objects.filter(email__iexact=email).only("pk").first()
    if user is not None:
        return identity_of(user)
    return f"address:{_db_upper(email)}"


def wait_message(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _blocked(*pairs: tuple[RateLimit, str]) -> int | None:
    """Seconds to wait if any (limit, identity) pair is used up, else None."""
    waits = [limit.retry_after() for limit, identity in pairs if identity and limit.exceeded(identity)]
    return max(waits) if waits else None


def login_blocked(*, ip: str, account: str) -> int | None:
    """``account`` is an ``account_identity``; ``ip`` may be empty (no request)."""
    return _blocked((_login_per_ip(), ip), (_login_per_account(), account))


def login_failed(*, ip: str, account: str) -> None:
    if ip:
        _login_per_ip().hit(ip)
    if account:
        _login_per_account().hit(account)


def login_succeeded(*, account: str) -> None:
    """The account's failures are forgiven; the client's are not (one attacker, many accounts).
    Also called when a password reset completes: the owner proved control of the mailbox."""
    if account:
        _login_per_account().reset(account)


def signup_blocked(*, ip: str) -> int | None:
    return _blocked((_signups_per_ip(), ip))


def signup_attempted(*, ip: str) -> None:
    _signups_per_ip().hit(ip)


def account_email_blocked(*, ip: str, account: str) -> int | None:
    """Password-reset and verification emails share one budget per client and per recipient
    (``account`` is an ``account_identity``: the account the address resolves to)."""
    return _blocked((_emails_per_ip(), ip), (_emails_per_address(), account))


def account_email_requested(*, ip: str, account: str) -> None:
    _emails_per_ip().hit(ip)
    if account:
        _emails_per_address().hit(account)
