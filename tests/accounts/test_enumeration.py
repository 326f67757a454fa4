"""No page tells a stranger whether an address has an account: every form that takes an
address answers an existing one exactly as an unknown one (status, redirect, page), and any
news for an existing owner goes to the owner's mailbox instead."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory
from tests.jobs import committed_then_worked, run_jobs

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # UserFactory's
NEW_PASSWORD = "plum-Orchard-42-velvet"
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
NONCE = re.compile(r'nonce="[^"]+"')  # the CSP nonce: random per response, like the CSRF token


@pytest.fixture(autouse=True)
def roomy_limits(settings):
    settings.SIGNUPS_PER_IP = 100
    settings.ACCOUNT_EMAILS_PER_IP = 100
    settings.ACCOUNT_EMAILS_PER_ADDRESS = 100


@pytest.fixture
def owner():
    return UserFactory(email="owner@example.com", first_name="Olga")


@pytest.fixture
def send_now():
    """Emails are jobs queued in the request's transaction (hooks queue theirs on commit; the
    test transaction never commits): run the callbacks, then the jobs, when the block ends."""
    return committed_then_worked


def answer(response, typed: str) -> tuple:
    """What the visitor sees, with the typed address and the per-response CSRF token and CSP
    nonce blanked."""
    body = NONCE.sub("", TOKEN.sub("", response.content.decode())).replace(typed, "<typed>")
    return response.status_code, response.get("Location"), response.get("Retry-After"), body


def follow(client, response, typed: str) -> tuple:
    first = answer(response, typed)
    if response.status_code != 302:
        return (first,)
    return first, answer(client.get(response["Location"]), typed)


# --- Sign-up: the input ---------------------------------------------------------------


@pytest.mark.parametrize("typed", ["owner@example.com", "OWNER@Example.com", "owner@EXAMPLE.COM"])
def test_signup_answers_an_existing_address_exactly_as_a_new_one(client, owner, typed, mailoutbox, send_now):
    def sign_up(email):
        data = {"email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
        with send_now():
            response = client.post(reverse("accounts:signup"), data)
        seen = follow(client, response, email)
        assert SESSION_KEY not in client.session
        return seen

    assert sign_up(typed) == sign_up("stranger@example.com")
    assert "A user with this email address already exists" not in str(sign_up("owner@example.com"))

    assert User.objects.filter(email__iexact="owner@example.com").count() == 1
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)
    to_owner = [message for message in mailoutbox if message.to == ["owner@example.com"]]
    to_stranger = [message for message in mailoutbox if message.to == ["stranger@example.com"]]
    assert to_owner and to_owner[0].subject == "Someone tried to sign up with your email address"
    assert "Olga" in to_owner[0].body
    assert len(to_stranger) == 1 and "/accounts/email/verify/" in to_stranger[0].body


def test_signup_notices_to_an_owner_stop_at_the_address_budget(client, owner, settings, mailoutbox, send_now):
    """Sign-ups cannot be used to flood an owner's mailbox; the page does not change."""
    settings.ACCOUNT_EMAILS_PER_ADDRESS = 2
    answers = set()
    for number in range(4):
        data = {"email": "owner@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
        with send_now():
            response = client.post(reverse("accounts:signup"), data, REMOTE_ADDR=f"10.1.0.{number}")
        answers.add((response.status_code, response["Location"]))
    assert answers == {(302, reverse("accounts:signup_done"))}
    assert len(mailoutbox) == 2


# --- Password reset ------------------------------------------------------------------------


def test_password_reset_answers_an_existing_address_exactly_as_an_unknown_one(client, owner, mailoutbox):
    def ask(email):
        return follow(client, client.post(reverse("accounts:password_reset"), {"email": email}), email)

    assert ask("owner@example.com") == ask("nobody@example.com")
    run_jobs()
    assert [message.to for message in mailoutbox] == [["owner@example.com"]]


def test_password_reset_throttle_answers_alike(client, owner, settings):
    settings.ACCOUNT_EMAILS_PER_ADDRESS = 1

    def ask_twice(email):
        url = reverse("accounts:password_reset")
        client.post(url, {"email": email}, REMOTE_ADDR="10.2.0.1")
        return answer(client.post(url, {"email": email}, REMOTE_ADDR="10.2.0.2"), email)

    known, unknown = ask_twice("owner@example.com"), ask_twice("nobody@example.com")
    assert known[0] == 429
    assert known[:2] == unknown[:2] and known[3] == unknown[3]


# --- Log-in ---------------------------------------------------------------------------------


def test_login_answers_a_wrong_password_exactly_as_an_unknown_address(client, owner):
    def log_in(email):
        return answer(client.post(reverse("accounts:login"), {"username": email, "password": "wrong"}), email)

    assert log_in("owner@example.com") == log_in("nobody@example.com")


def test_inactive_account_is_answered_as_a_wrong_password(client):
    UserFactory(email="gone@example.com", is_active=False)
    response = client.post(reverse("accounts:login"), {"username": "gone@example.com", "password": PASSWORD})
    unknown = client.post(reverse("accounts:login"), {"username": "nada@example.com", "password": PASSWORD})
    assert answer(response, "gone@example.com") == answer(unknown, "nada@example.com")


# --- Changing one's email address -----------------------------------------------------------


def test_email_change_answers_a_taken_address_exactly_as_a_free_one(client, owner, mailoutbox, send_now):
    mover = UserFactory(email="mover@example.com")
    client.force_login(mover)

    def change_to(email):
        with send_now():
            response = client.post(reverse("accounts:email_change"), {"email": email, "password": PASSWORD})
        return follow(client, response, email)

    assert change_to("OWNER@example.com") == change_to("free@example.com")
    mover.refresh_from_db()
    assert mover.email == "mover@example.com"
    (to_owner,) = [message for message in mailoutbox if message.to == ["owner@example.com"]]
    assert to_owner.subject == "Someone tried to use your email address"
    assert "mover@example.com" not in to_owner.body  # the owner is not told who tried either
    (to_free,) = [message for message in mailoutbox if message.to == ["free@example.com"]]
    assert "/accounts/email/change/" in to_free.body


def test_email_change_requests_count_against_the_target_address(
    client, owner, settings, mailoutbox, send_now
):
    settings.ACCOUNT_EMAILS_PER_ADDRESS = 1
    client.force_login(UserFactory(email="mover@example.com"))
    url = reverse("accounts:email_change")
    with send_now():
        assert client.post(url, {"email": "owner@example.com", "password": PASSWORD}).status_code == 302
        refused = client.post(url, {"email": "owner@example.com", "password": PASSWORD})
    assert refused.status_code == 429
    assert "Too many emails were requested." in refused.content.decode()
    assert len(mailoutbox) == 1
