"""Rate limits of the account pages; the numbers are settings (read at call time)."""

import math

from django.conf import settings

from marketplace.ratelimit import RateLimit


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


def _account(email: str) -> str:
    return email.strip().lower()


def wait_message(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _blocked(*pairs: tuple[RateLimit, str]) -> int | None:
    """Seconds to wait if any (limit, identity) pair is used up, else None."""
    waits = [limit.retry_after() for limit, identity in pairs if identity and limit.exceeded(identity)]
    return max(waits) if waits else None


def login_blocked(*, ip: str, email: str) -> int | None:
    return _blocked((_login_per_ip(), ip), (_login_per_account(), _account(email)))


def login_failed(*, ip: str, email: str) -> None:
    _login_per_ip().hit(ip)
    if _account(email):
        _login_per_account().hit(_account(email))


def login_succeeded(*, email: str) -> None:
    """The account's failures are forgiven; the address's are not (one attacker, many accounts)."""
    _login_per_account().reset(_account(email))


def signup_blocked(*, ip: str) -> int | None:
    return _blocked((_signups_per_ip(), ip))


def signup_attempted(*, ip: str) -> None:
    _signups_per_ip().hit(ip)


def account_email_blocked(*, ip: str, address: str) -> int | None:
    """Password-reset and verification emails share one budget per client and per recipient."""
    return _blocked((_emails_per_ip(), ip), (_emails_per_address(), _account(address)))


def account_email_requested(*, ip: str, address: str) -> None:
    _emails_per_ip().hit(ip)
    if _account(address):
        _emails_per_address().hit(_account(address))
