"""One log-in throttle for every way in (site, admin, test client, password reset), keyed on
the account the typed address resolves to, as PostgreSQL's case-insensitive match resolves it."""

import pytest
from django.contrib.auth import SESSION_KEY, authenticate
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import throttles
from accounts.models import User
from tests.factories import UserFactory
from tests.jobs import run_jobs

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # UserFactory's
WRONG = "not the password"
SITE_LOGIN = reverse("accounts:login")
ADMIN_LOGIN = reverse("admin:login")
RESET_URL = reverse("accounts:password_reset")


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_IP = 50
    settings.LOGIN_LOCKOUT_SECONDS = 900
    settings.ACCOUNT_EMAILS_PER_IP = 50
    settings.ACCOUNT_EMAILS_PER_ADDRESS = 2
    return settings


@pytest.fixture
def staff():
    return UserFactory(email="sam.staff@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def member():
    return UserFactory(email="admin@example.com")


def site_login(client, email, password=WRONG, ip="10.0.0.1"):
    return client.post(SITE_LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def admin_login(client, email, password=WRONG, ip="10.0.0.1"):
    data = {"username": email, "password": password, "next": "/admin/"}
    return client.post(ADMIN_LOGIN, data, REMOTE_ADDR=ip)


def no_password_checks(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the password must not be checked past the limit")

    monkeypatch.setattr(User, "check_password", fail)


def assert_throttled(response):
    assert response.status_code == 429
    assert "Too many failed log-in attempts. Try again in" in response.content.decode()
    assert 0 < int(response["Retry-After"]) <= 900


# --- The admin's log-in ---------------------------------------------------------------------


def test_admin_login_is_throttled(client, staff, monkeypatch):
    """The issue's input: twelve wrong passwords at /admin/login/ all answered 200."""
    answers = [admin_login(client, "sam.staff@example.com").status_code for _ in range(12)]
    assert answers[:3] == [200, 200, 200]
    assert set(answers[3:]) == {429}

    no_password_checks(monkeypatch)
    response = admin_login(client, "sam.staff@example.com", PASSWORD)
    assert_throttled(response)
    assert SESSION_KEY not in client.session


def test_site_lockout_holds_at_the_admin_login(client, staff):
    for _ in range(3):
        assert site_login(client, "sam.staff@example.com").status_code == 200
    assert_throttled(site_login(client, "sam.staff@example.com", PASSWORD))

    assert_throttled(admin_login(client, "sam.staff@example.com", PASSWORD, ip="10.0.0.2"))
    assert SESSION_KEY not in client.session


def test_admin_lockout_holds_at_the_site_login(client, staff):
    for _ in range(3):
        admin_login(client, "SAM.STAFF@example.com", ip=f"10.0.3.{_}")
    assert_throttled(site_login(client, "sam.staff@example.com", PASSWORD, ip="10.0.4.1"))


def test_admin_login_works_below_the_limit(client, staff):
    admin_login(client, "sam.staff@example.com")
    response = admin_login(client, "sam.staff@example.com", PASSWORD)
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(staff.pk)


def test_authenticate_outside_a_request_is_throttled_too(staff):
    for _ in range(3):
        assert authenticate(username="sam.staff@example.com", password=WRONG) is None
    with pytest.raises(throttles.LoginThrottled):
        authenticate(username="sam.staff@example.com", password=PASSWORD)


# --- Spellings PostgreSQL folds onto another address ------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "adm\u0131n@example.com",  # dotless i: UPPER() gives I (NFKC keeps it)
        "ADM\u0131N@EXAMPLE.COM",
        "\u017fam.staff@example.com",  # long s: UPPER() gives S
    ],
)
def test_folded_spelling_logs_into_the_account_it_resolves_to(client, member, staff, spelling):
    """Such a spelling really logs into the other account, so it must count against it."""
    target = staff if "staff" in spelling else member
    assert User.objects.get(email__iexact=spelling) == target
    assert site_login(client, spelling, PASSWORD).status_code == 302
    assert client.session[SESSION_KEY] == str(target.pk)


@pytest.mark.parametrize(
    "spellings",
    [
        ["admin@example.com", "adm\u0131n@example.com", "ADM\u0131N@example.com"],
        ["adm\u0131n@example.com", "admin@example.com", "Admin@Example.com"],
    ],
)
def test_folded_spellings_share_the_accounts_lockout(client, member, spellings, monkeypatch):
    """The bypass: failures under one spelling, then more guesses under another."""
    for number, spelling in enumerate(spellings):
        assert site_login(client, spelling, ip=f"10.0.5.{number}").status_code == 200
    no_password_checks(monkeypatch)
    for spelling in ("admin@example.com", "adm\u0131n@example.com", "ADMIN@EXAMPLE.COM"):
        assert_throttled(site_login(client, spelling, PASSWORD, ip="10.0.6.1"))
        assert_throttled(admin_login(client, spelling, PASSWORD, ip="10.0.6.2"))


def test_long_s_spelling_shares_the_admins_lockout(client, staff):
    for spelling in (
        "\u017fam.staff@example.com",
        "\u017fam.\u017ftaff@example.com",
        "sam.staff@example.com",
    ):
        admin_login(client, spelling)
    assert_throttled(admin_login(client, "sam.staff@example.com", PASSWORD))


def test_unknown_addresses_lock_out_exactly_like_known_ones(client, member):
    """The same spellings of an unknown address share one counter too, so the throttle never
    tells which addresses have accounts."""
    known = ["admin@example.com", "adm\u0131n@example.com", "ADMIN@example.com", "admin@example.com"]
    unknown = ["odin@example.com", "od\u0131n@example.com", "ODIN@example.com", "odin@example.com"]
    known_answers = [site_login(client, email, ip="10.0.7.1").status_code for email in known]
    unknown_answers = [site_login(client, email, ip="10.0.7.2").status_code for email in unknown]
    assert known_answers == unknown_answers == [200, 200, 200, 429]


def test_identity_is_the_account_not_the_typed_string(member):
    assert throttles.account_identity("ADM\u0131N@example.com") == f"account:{member.pk}"
    assert throttles.account_identity("od\u0131n@example.com") == throttles.account_identity(
        "ODIN@EXAMPLE.COM"
    )


# --- Password reset: the same keying, and a completed reset ends the lockout ----------------


def test_reset_requests_count_per_resolved_account(client, member, mailoutbox):
    assert (
        client.post(RESET_URL, {"email": "adm\u0131n@example.com"}, REMOTE_ADDR="10.0.8.1").status_code == 302
    )
    assert client.post(RESET_URL, {"email": "admin@example.com"}, REMOTE_ADDR="10.0.8.2").status_code == 302
    refused = client.post(RESET_URL, {"email": "ADM\u0131N@example.com"}, REMOTE_ADDR="10.0.8.3")
    assert refused.status_code == 429
    assert "Too many emails were requested." in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    run_jobs()
    assert len(mailoutbox) <= 2
    assert all(message.to == ["admin@example.com"] for message in mailoutbox)


def test_completed_password_reset_ends_the_lockout(client, member):
    for _ in range(3):
        site_login(client, "admin@example.com")
    assert_throttled(site_login(client, "admin@example.com", PASSWORD))

    uid = urlsafe_base64_encode(force_bytes(member.pk))
    token = default_token_generator.make_token(member)
    url = reverse("accounts:password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    form_url = client.get(url)["Location"]
    new_password = "quartz-Lantern-77-meadow"
    done = client.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert done.status_code == 302

    assert site_login(client, "admin@example.com", new_password).status_code == 302
