from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.messages.storage.base import Message
from django.shortcuts import render

from accounts import throttles
from accounts.models import AccountStatus
from accounts.services import BANNED_MESSAGE, SUSPENDED_MESSAGE


class AccountStatusMiddleware:
    """Enforce the account status on every request of a logged-in user.

    Sessions (the database, cached in Redis) are keyed by session and not by user, so a ban
    does not look them up: a banned user's session is flushed on its next request instead
    (the user row is loaded for the request anyway). Suspended users see a notice on every
    page. Must come after AuthenticationMiddleware and MessageMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated:
            if user.account_status == AccountStatus.BANNED:
                logout(request)
                messages.error(request, f"You have been logged out. {BANNED_MESSAGE}")
            elif (
                user.account_status == AccountStatus.SUSPENDED
                and request.method == "GET"
                # One notice at a time: a redirect keeps it pending for the next page.
                and Message(messages.WARNING, SUSPENDED_MESSAGE) not in messages.get_messages(request)
            ):
                messages.warning(request, SUSPENDED_MESSAGE)
        return self.get_response(request)


class LoginThrottleMiddleware:
    """Answer 429 (with Retry-After and the reason) when the authentication backend refuses a
    log-in past its limit on a page that does not handle it itself: the admin's log-in, or any
    other view that calls ``authenticate()``. The site's log-in page catches it first to show
    its form again."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, throttles.LoginThrottled):
            return None
        message = f"{exception.message} Try again in {throttles.wait_message(exception.retry_after)}."
        response = render(request, "accounts/rate_limited.html", {"throttle_message": message}, status=429)
        response["Retry-After"] = str(exception.retry_after)
        return response
