import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.backends import ModelBackend
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import User
from marketplace import ratelimit
from marketplace.ratelimit import client_ip
from tests.factories import UserFactory
from tests.jobs import run_jobs

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # UserFactory's
WRONG_PASSWORD = "not the password"
LOGIN_URL = reverse("accounts:login")
SIGNUP_URL = reverse("accounts:signup")
RESET_URL = reverse("accounts:password_reset")


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_IP = 5
    settings.LOGIN_LOCKOUT_SECONDS = 900
    settings.SIGNUPS_PER_IP = 2
    settings.SIGNUP_WINDOW_SECONDS = 3600
    settings.ACCOUNT_EMAILS_PER_IP = 3
    settings.ACCOUNT_EMAILS_PER_ADDRESS = 2
    settings.ACCOUNT_EMAIL_WINDOW_SECONDS = 3600
    return settings


@pytest.fixture
def member():
    return UserFactory(email="member@example.com")


@pytest.fixture
def later(monkeypatch):
    """Move the rate limiter's clock forward by some seconds (its windows follow the epoch)."""

    def move(seconds):
        start = time.time()
        monkeypatch.setattr(ratelimit, "_now", lambda: start + seconds)

    return move


def login(client, email="member@example.com", password=WRONG_PASSWORD, ip="10.0.0.1"):
    return client.post(LOGIN_URL, {"username": email, "password": password}, REMOTE_ADDR=ip)


def refuse_password_checks(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the password must not be checked past the limit")

    monkeypatch.setattr(ModelBackend, "authenticate", fail)


# --- Log in -----------------------------------------------------------------------------------


def test_per_account_limit_gives_429_without_checking_the_password(client, member, monkeypatch):
    for _ in range(3):
        assert login(client).status_code == 200

    refuse_password_checks(monkeypatch)
    response = login(client, password=PASSWORD)

    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed log-in attempts. Try again in" in html
    assert 'role="alert"' in html
    assert 0 < int(response["Retry-After"]) <= 900
    assert 'value="member@example.com"' in html  # the form is there for later
    assert SESSION_KEY not in client.session


def test_case_variants_count_as_one_account(client, member):
    for email in ("member@example.com", "MEMBER@example.com", "Member@Example.com"):
        assert login(client, email=email).status_code == 200
    assert login(client, email="mEmBeR@EXAMPLE.COM", password=PASSWORD).status_code == 429


def test_per_account_limit_holds_across_addresses(client, member):
    for number in range(3):
        login(client, ip=f"10.0.1.{number}")
    assert login(client, ip="10.0.2.1", password=PASSWORD).status_code == 429


def test_per_ip_limit_covers_many_accounts(client, member):
    for number in range(5):
        assert login(client, email=f"guess{number}@example.com").status_code == 200

    assert login(client, password=PASSWORD).status_code == 429  # even a fresh account
    assert login(client, password=PASSWORD, ip="10.9.9.9").status_code == 302  # another client is fine


def test_success_clears_the_accounts_counter(client, member):
    login(client)
    login(client)
    assert login(client, password=PASSWORD).status_code == 302
    client.post(reverse("accounts:logout"))

    for _ in range(3):
        assert login(client).status_code == 200
    assert login(client).status_code == 429


def test_login_recovers_after_the_window(client, member, later):
    for _ in range(3):
        login(client)
    assert login(client, password=PASSWORD).status_code == 429

    later(900)
    response = login(client, password=PASSWORD)
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(member.pk)


def test_ipv6_clients_count_per_64_block(client, member):
    for number in range(5):
        login(client, email=f"guess{number}@example.com", ip=f"2001:db8:1:2::{number + 1}")
    assert login(client, password=PASSWORD, ip="2001:db8:1:2:ffff::9").status_code == 429
    assert login(client, password=PASSWORD, ip="2001:db8:1:3::1").status_code == 302


def test_client_ip_reads_remote_addr_only():
    factory = RequestFactory()
    forged = factory.get("/", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_ip(forged) == "192.0.2.7"
    assert client_ip(factory.get("/", REMOTE_ADDR="::ffff:192.0.2.7")) == "192.0.2.7"
    assert client_ip(factory.get("/", REMOTE_ADDR="2001:db8::1")) == "2001:db8::/64"


# --- Sign up ----------------------------------------------------------------------------------


def signup(client, number, ip="10.0.0.1"):
    password = "plum-Orchard-42"
    data = {"email": f"new{number}@example.com", "password1": password, "password2": password}
    response = client.post(SIGNUP_URL, data, REMOTE_ADDR=ip)
    client.post(reverse("accounts:logout"))
    return response


def test_signups_per_ip_then_429_and_recovery(client, later):
    assert signup(client, 1).status_code == 302
    assert signup(client, 2).status_code == 302

    refused = signup(client, 3)
    assert refused.status_code == 429
    assert "Too many sign-up attempts from your network." in refused.content.decode()
    assert not User.objects.filter(email="new3@example.com").exists()
    assert signup(client, 4, ip="10.0.0.2").status_code == 302

    later(3600)
    assert signup(client, 5).status_code == 302


def test_invalid_signups_count_too(client):
    for _ in range(2):
        assert client.post(SIGNUP_URL, {"email": "bad"}, REMOTE_ADDR="10.0.0.1").status_code == 200
    assert signup(client, 1).status_code == 429


# --- Emails: password reset and verification --------------------------------------------------


def reset(client, email, ip="10.0.0.1"):
    return client.post(RESET_URL, {"email": email}, REMOTE_ADDR=ip)


def test_password_reset_emails_per_ip(client, mailoutbox, later):
    for number in range(3):
        UserFactory(email=f"user{number}@reset.example")
        assert reset(client, f"user{number}@reset.example").status_code == 302
    run_jobs()
    assert len(mailoutbox) == 3

    refused = reset(client, "user0@reset.example")
    assert refused.status_code == 429
    assert "Too many emails were requested." in refused.content.decode()
    run_jobs()
    assert len(mailoutbox) == 3

    later(3600)
    assert reset(client, "user0@reset.example").status_code == 302
    run_jobs()
    assert len(mailoutbox) == 4


def test_password_reset_emails_per_address(client, member, mailoutbox):
    assert reset(client, "member@example.com", ip="10.0.0.1").status_code == 302
    assert reset(client, "MEMBER@example.com", ip="10.0.0.2").status_code == 302
    assert reset(client, "member@example.com", ip="10.0.0.3").status_code == 429
    run_jobs()
    assert len(mailoutbox) == 2


def test_unknown_addresses_count_like_known_ones(client, mailoutbox):
    """Otherwise the limit itself would tell which addresses have accounts."""
    for number in range(3):
        assert reset(client, f"ghost{number}@example.com").status_code == 302
    assert reset(client, "ghost9@example.com").status_code == 429
    run_jobs()
    assert mailoutbox == []


def test_verification_resend_is_limited(client, mailoutbox, django_capture_on_commit_callbacks):
    user = UserFactory(email_verified_at=None)
    client.force_login(user)
    url = reverse("accounts:verify_email_resend")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            assert client.post(url, REMOTE_ADDR="10.0.0.1").status_code == 302
        refused = client.post(url, REMOTE_ADDR="10.0.0.1")
    assert refused.status_code == 429
    assert "Too many emails were requested. Try again in" in refused.content.decode()
    run_jobs()
    assert len(mailoutbox) == 2
