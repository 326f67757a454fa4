import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Permission
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import (
    ensure_can_publish,
    ensure_can_transact,
    user_ban,
    user_reinstate,
    user_suspend,
)
from marketplace.errors import ServiceError
from tests.factories import UserFactory
from tests.jobs import run_jobs

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # UserFactory's
LOGIN_URL = reverse("accounts:login")
BANNED = "This account has been banned."
REASON = "Broke the house rules."
SUSPENDED = "Your account is suspended: you can browse, but you cannot buy, sell or send messages"


@pytest.fixture
def staff():
    moderator = UserFactory(is_staff=True, email="moderator@example.com")
    # Issue 15: suspending, banning and reinstating need their own permission.
    moderator.user_permissions.add(Permission.objects.get(codename="moderate_user"))
    return moderator


@pytest.fixture
def member():
    return UserFactory(email="member@example.com")


def login(client, email="member@example.com", password=PASSWORD):
    return client.post(LOGIN_URL, {"username": email, "password": password})


# --- Banned -----------------------------------------------------------------------------------


def test_banned_user_cannot_log_in_and_is_told_why(client, member, staff):
    user_ban(user=member, actor=staff, reason=REASON)

    response = login(client)

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [BANNED]
    assert BANNED in response.content.decode()
    assert SESSION_KEY not in client.session


def test_a_wrong_password_on_a_banned_account_reveals_nothing(client, member, staff):
    user_ban(user=member, actor=staff, reason=REASON)
    response = login(client, password="wrong")
    assert response.context["form"].non_field_errors() == ["The email address or password is incorrect."]


def test_ban_revokes_existing_sessions_on_their_next_request(member, staff):
    browser = Client()
    assert login(browser).status_code == 302
    session_key = browser.session.session_key
    assert browser.get(reverse("accounts:profile_edit")).status_code == 200

    user_ban(user=member, actor=staff, reason=REASON)

    response = browser.get(reverse("home"))
    assert response.status_code == 200
    assert f"You have been logged out. {BANNED}" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated
    assert SESSION_KEY not in browser.session
    assert not SessionStore().exists(session_key)  # the old session is gone (database and cache)
    assert browser.get(reverse("accounts:profile_edit")).status_code == 302


def test_ban_keeps_is_active_and_reinstating_restores_login(client, member, staff):
    user_ban(user=member, actor=staff, reason=REASON)
    member.refresh_from_db()
    assert member.account_status == User.AccountStatus.BANNED
    assert member.is_active

    user_reinstate(user=member, actor=staff, reason=REASON)
    member.refresh_from_db()
    assert member.account_status == User.AccountStatus.ACTIVE
    assert login(client).status_code == 302


def test_banned_users_get_no_password_reset_email(client, member, staff, mailoutbox):
    user_ban(user=member, actor=staff, reason=REASON)
    response = client.post(reverse("accounts:password_reset"), {"email": member.email})
    assert response["Location"] == reverse("accounts:password_reset_done")  # the same answer
    run_jobs()
    assert mailoutbox == []


# --- Suspended --------------------------------------------------------------------------------


def test_suspended_user_logs_in_browses_and_sees_one_banner_per_page(client, member, staff):
    user_suspend(user=member, actor=staff, reason=REASON)

    assert login(client).status_code == 302
    home = client.get(reverse("home")).content.decode()
    assert home.count(SUSPENDED) == 1
    # A redirect keeps the notice pending; the next page shows it once, not twice.
    redirected = client.get(reverse("accounts:signup"), follow=True)  # logged in: sent home
    assert redirected.redirect_chain == [(reverse("home"), 302)]
    assert redirected.content.decode().count(SUSPENDED) == 1
    assert client.get(reverse("accounts:profile_edit")).content.decode().count(SUSPENDED) == 1


def test_active_users_see_no_banner(client, member):
    client.force_login(member)
    assert SUSPENDED not in client.get(reverse("home")).content.decode()


def test_ensure_can_transact(member, staff):
    ensure_can_transact(member)  # active: fine

    user_suspend(user=member, actor=staff, reason=REASON)
    with pytest.raises(ServiceError) as refused:
        ensure_can_transact(member)
    assert refused.value.code == "account_suspended"
    assert refused.value.message.startswith(SUSPENDED)

    user_ban(user=member, actor=staff, reason=REASON)
    with pytest.raises(ServiceError) as refused:
        ensure_can_transact(member)
    assert (refused.value.code, refused.value.message) == ("account_banned", BANNED)


def test_ensure_can_transact_refuses_anonymous_users(client):
    request = client.get(reverse("home")).wsgi_request
    with pytest.raises(ServiceError) as refused:
        ensure_can_transact(request.user)
    assert refused.value.code == "login_required"


def test_ensure_can_publish_needs_a_verified_email():
    with pytest.raises(ServiceError) as refused:
        ensure_can_publish(UserFactory(email_verified_at=None))
    assert refused.value.code == "email_unverified"
    ensure_can_publish(UserFactory())


# --- Who may change a status ------------------------------------------------------------------


def test_only_staff_change_a_status(member):
    other = UserFactory()
    for action in (user_ban, user_suspend, user_reinstate):
        with pytest.raises(ServiceError) as refused:
            action(user=member, actor=other, reason=REASON)
        assert refused.value.code == "forbidden"
    member.refresh_from_db()
    assert member.account_status == User.AccountStatus.ACTIVE


def test_nobody_changes_their_own_status(staff):
    with pytest.raises(ServiceError) as refused:
        user_ban(user=staff, actor=staff, reason=REASON)
    assert refused.value.code == "own_account"


def test_only_a_superuser_bans_staff(staff):
    colleague = UserFactory(is_staff=True)
    with pytest.raises(ServiceError):
        user_ban(user=colleague, actor=staff, reason=REASON)
    colleague.refresh_from_db()
    assert colleague.account_status == User.AccountStatus.ACTIVE

    user_ban(user=colleague, actor=UserFactory(is_staff=True, is_superuser=True), reason=REASON)
    colleague.refresh_from_db()
    assert colleague.account_status == User.AccountStatus.BANNED
