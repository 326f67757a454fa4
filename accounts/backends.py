"""The one authentication backend: Django's ModelBackend behind the log-in throttle.

Every way in calls ``django.contrib.auth.authenticate()`` (the site's log-in form, the admin's,
the test client), so the throttle sits here rather than in a view: no entry point can skip it.
"""

from django.contrib.auth.backends import ModelBackend

from accounts import throttles
from accounts.models import User
from marketplace.ratelimit import client_ip


class ThrottledModelBackend(ModelBackend):
    """Checks the per-client and per-account limits before looking at the password, and
    counts the failure or forgives the account's failures afterwards.

    The account is the one the typed address resolves to (``get_by_natural_key``, i.e.
    ``email__iexact``), so a spelling PostgreSQL folds onto another address counts against the
    account it logs into. Past a limit it raises ``throttles.LoginThrottled``: the password is
    not checked at all, right or wrong.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            user = None
        account = throttles.account_identity(username, user=user)
        ip = client_ip(request) if request is not None else ""
        retry_after = throttles.login_blocked(ip=ip, account=account)
        if retry_after:
            raise throttles.LoginThrottled(retry_after)
        if user is None:
            # As ModelBackend does: hash once anyway, so an unknown address takes as long.
            User().set_password(password)
        elif user.check_password(password) and self.user_can_authenticate(user):
            throttles.login_succeeded(account=account)
            return user
        throttles.login_failed(ip=ip, account=account)
        return None
