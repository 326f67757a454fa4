import time

import pytest
from django.core import signing
from django.urls import reverse

from accounts.models import User
from accounts.services import EMAIL_VERIFICATION_SALT, email_verification_url
from tests.factories import UserFactory
from tests.jobs import committed_then_worked, run_jobs

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # UserFactory's
RESEND_URL = reverse("accounts:verify_email_resend")
EMAIL_CHANGE_URL = reverse("accounts:email_change")


@pytest.fixture
def unverified():
    return UserFactory(email="fresh@example.com", email_verified_at=None)


@pytest.fixture
def send_now():
    """Emails are jobs queued in the request's transaction (hooks queue theirs on commit; the
    test transaction never commits): run the callbacks, then the jobs, when the block ends."""
    return committed_then_worked


def link_in(message) -> str:
    (line,) = [line for line in message.body.splitlines() if "/accounts/email/verify/" in line]
    assert line.startswith("http://testserver/")
    return line.removeprefix("http://testserver")


def verification_link(user) -> str:
    return email_verification_url(user=user, base_url="http://testserver").removeprefix("http://testserver")


def link_signed_ago(monkeypatch, user, seconds: int) -> str:
    """A genuine link, signed as if ``seconds`` ago (only TimestampSigner's clock moves)."""
    signed_at = time.time() - seconds
    with monkeypatch.context() as past:
        past.setattr(signing.time, "time", lambda: signed_at)
        return verification_link(user)


def test_link_from_signup_verifies_and_a_second_visit_changes_nothing(client, send_now, mailoutbox):
    with send_now():
        client.post(
            reverse("accounts:signup"),
            {"email": "joiner@example.com", "password1": "plum-Orchard-42", "password2": "plum-Orchard-42"},
        )
    link = link_in(mailoutbox[0])
    client.post(reverse("accounts:logout"))  # the link works in any browser, logged in or not

    response = client.get(link)
    assert response.status_code == 200
    assert "is now verified" in response.content.decode()
    user = User.objects.get(email="joiner@example.com")
    verified_at = user.email_verified_at
    assert verified_at is not None

    again = client.get(link)
    assert again.status_code == 200
    assert "already verified" in again.content.decode()
    user.refresh_from_db()
    assert user.email_verified_at == verified_at


def test_expired_link_is_refused_and_changes_nothing(client, unverified, settings, monkeypatch):
    settings.EMAIL_VERIFICATION_MAX_AGE = 3 * 24 * 3600
    link = link_signed_ago(monkeypatch, unverified, 3 * 24 * 3600 + 60)

    response = client.get(link)

    assert response.status_code == 400
    assert "This verification link has expired" in response.content.decode()
    unverified.refresh_from_db()
    assert unverified.email_verified_at is None


def test_expiry_is_the_setting(client, unverified, settings, monkeypatch):
    settings.EMAIL_VERIFICATION_MAX_AGE = 60
    link = link_signed_ago(monkeypatch, unverified, 120)
    assert client.get(link).status_code == 400

    settings.EMAIL_VERIFICATION_MAX_AGE = 600
    assert client.get(link).status_code == 200
    unverified.refresh_from_db()
    assert unverified.email_verified_at is not None


def tamper_signature(link: str) -> str:
    token = link.rstrip("/").rsplit("/", 1)[1]
    last = token[-1]
    return link.replace(token, token[:-1] + ("A" if last != "A" else "B"))


def tamper_payload(link: str) -> str:
    """Re-sign nothing: swap the payload for another user's id, keeping the old signature."""
    token = link.rstrip("/").rsplit("/", 1)[1]
    other = signing.TimestampSigner(salt=EMAIL_VERIFICATION_SALT).sign_object(
        {"id": "00000000-0000-0000-0000-000000000000", "email": "x@example.com"}
    )
    forged = other.split(":")[0] + ":" + ":".join(token.split(":")[1:])
    return link.replace(token, forged)


@pytest.mark.parametrize(
    "mangle",
    [
        tamper_signature,
        tamper_payload,
        lambda link: link.replace("/verify/", "/verify/garbage"),
        lambda link: "/accounts/email/verify/not-a-token/",
    ],
    ids=["signature", "payload", "prefix", "garbage"],
)
def test_tampered_link_is_refused_and_changes_nothing(client, unverified, mangle):
    response = client.get(mangle(verification_link(unverified)))
    assert response.status_code == 400
    assert "This verification link is not valid" in response.content.decode()
    unverified.refresh_from_db()
    assert unverified.email_verified_at is None


def test_a_link_signed_for_another_purpose_is_refused(client, unverified):
    token = signing.TimestampSigner(salt="something.else").sign_object(
        {"id": str(unverified.pk), "email": unverified.email.lower()}
    )
    response = client.get(reverse("accounts:verify_email", kwargs={"token": token}))
    assert response.status_code == 400
    unverified.refresh_from_db()
    assert unverified.email_verified_at is None


def test_banned_accounts_cannot_verify(client, unverified):
    link = verification_link(unverified)
    User.objects.filter(pk=unverified.pk).update(account_status="banned")
    assert client.get(link).status_code == 400
    unverified.refresh_from_db()
    assert unverified.email_verified_at is None


# --- Resend -----------------------------------------------------------------------------------


def test_resend_sends_a_fresh_link(client, unverified, send_now, mailoutbox):
    client.force_login(unverified)
    with send_now():
        response = client.post(RESEND_URL)
    assert response["Location"] == reverse("accounts:profile_edit")
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["fresh@example.com"]
    assert client.get(link_in(mailoutbox[0])).status_code == 200
    unverified.refresh_from_db()
    assert unverified.email_verified_at is not None


def test_resend_is_a_post_for_logged_in_users(client, unverified, mailoutbox):
    anonymous = client.post(RESEND_URL)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("accounts:login"))
    client.force_login(unverified)
    assert client.get(RESEND_URL).status_code == 405
    run_jobs()
    assert mailoutbox == []


def test_resend_when_already_verified_sends_nothing(client, send_now, mailoutbox):
    client.force_login(UserFactory())
    with send_now():
        response = client.post(RESEND_URL, follow=True)
    assert "already verified" in response.content.decode()
    assert mailoutbox == []


def test_profile_page_offers_resend_only_while_unverified(client, unverified):
    client.force_login(unverified)
    assert RESEND_URL in client.get(reverse("accounts:profile_edit")).content.decode()
    client.force_login(UserFactory())
    assert RESEND_URL not in client.get(reverse("accounts:profile_edit")).content.decode()


# --- Changing the email address -------------------------------------------------------------


def change_link_in(message) -> str:
    (line,) = [line for line in message.body.splitlines() if "/accounts/email/change/" in line]
    assert line.startswith("http://testserver/")
    return line.removeprefix("http://testserver")


def test_email_change_happens_when_the_link_sent_to_the_new_address_is_opened(client, send_now, mailoutbox):
    """Changed with issue 11 (item 8): the change used to be immediate (the new address then
    unverified), which forced the form to say when another account had the address. Now
    nothing changes until the link sent to the new address is opened; the address is then
    verified, since the link proves the mailbox."""
    user = UserFactory(email="old@example.com")
    old_link = verification_link(user)
    client.force_login(user)

    with send_now():
        response = client.post(EMAIL_CHANGE_URL, {"email": "New@Example.com", "password": PASSWORD})

    assert response["Location"] == reverse("accounts:profile_edit")
    user.refresh_from_db()
    assert user.email == "old@example.com"  # not yet
    (confirm,) = mailoutbox
    assert confirm.to == ["New@example.com"]
    link = change_link_in(confirm)

    client.post(reverse("accounts:logout"))  # the link works in any browser, logged in or not
    with send_now():
        opened = client.get(link)
    assert opened.status_code == 200
    assert "You now log in with New@example.com" in opened.content.decode()
    user.refresh_from_db()
    assert user.email == "New@example.com"
    assert user.email_verified_at is not None
    notice = mailoutbox[1]
    assert notice.to == ["old@example.com"]
    assert "New@example.com" in notice.body

    assert client.get(link).status_code == 200  # a second visit changes nothing
    assert len(mailoutbox) == 2

    stale = client.get(old_link)  # a verification link for the previous address is void
    assert stale.status_code == 400
    assert "earlier email address" in stale.content.decode()

    # The new address is now the login.
    assert (
        client.post(
            reverse("accounts:login"), {"username": "new@example.com", "password": PASSWORD}
        ).status_code
        == 302
    )


def test_email_change_link_is_superseded_by_a_later_change(client, send_now, mailoutbox):
    user = UserFactory(email="first@example.com")
    client.force_login(user)
    with send_now():
        client.post(EMAIL_CHANGE_URL, {"email": "second@example.com", "password": PASSWORD})
        client.post(EMAIL_CHANGE_URL, {"email": "third@example.com", "password": PASSWORD})
    second, third = (change_link_in(message) for message in mailoutbox)
    assert client.get(third).status_code == 200
    refused = client.get(second)
    assert refused.status_code == 400
    assert "later change" in refused.content.decode()
    user.refresh_from_db()
    assert user.email == "third@example.com"


def test_email_change_link_for_an_address_taken_since_changes_nothing(client, send_now, mailoutbox):
    user = UserFactory(email="mover@example.com")
    client.force_login(user)
    with send_now():
        client.post(EMAIL_CHANGE_URL, {"email": "wanted@example.com", "password": PASSWORD})
    UserFactory(email="WANTED@example.com")
    refused = client.get(change_link_in(mailoutbox[0]))
    assert refused.status_code == 400
    assert "belongs to another account" in refused.content.decode()
    user.refresh_from_db()
    assert user.email == "mover@example.com"


@pytest.mark.parametrize("token", ["garbage", "a" * 300, "eyJpZCI6IjEifQ:1abc:def"])
def test_tampered_email_change_link_is_a_clear_400(client, token):
    response = client.get(reverse("accounts:email_change_confirm", kwargs={"token": token}))
    assert response.status_code == 400
    assert "This link is not valid." in response.content.decode()


def test_changing_only_the_letter_case_keeps_verification(client, send_now, mailoutbox):
    user = UserFactory(email="case@example.com")
    client.force_login(user)
    with send_now():
        client.post(EMAIL_CHANGE_URL, {"email": "Case@example.com", "password": PASSWORD})
    user.refresh_from_db()
    assert user.email == "Case@example.com"
    assert user.email_verified_at is not None
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"email": "new@example.com", "password": "wrong"},
            "password",
            "Your password was entered incorrectly.",
        ),
        ({"email": "mine@example.com", "password": PASSWORD}, "email", "That is already your email address."),
        ({"email": "not-an-email", "password": PASSWORD}, "email", "Enter a valid email address."),
        ({"email": "", "password": ""}, "email", "This field is required."),
    ],
)
def test_email_change_bad_input_changes_nothing(client, send_now, mailoutbox, data, field, message):
    UserFactory(email="taken@example.com")
    user = UserFactory(email="mine@example.com")
    client.force_login(user)

    with send_now():
        response = client.post(EMAIL_CHANGE_URL, data)

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    user.refresh_from_db()
    assert user.email == "mine@example.com"
    assert user.email_verified_at is not None
    assert mailoutbox == []


def test_email_change_needs_login(client):
    response = client.get(EMAIL_CHANGE_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_email_change_link_queries_are_pinned(client, send_now, mailoutbox, django_assert_num_queries):
    user = UserFactory(email="pinned@example.com")
    client.force_login(user)
    with send_now():
        client.post(EMAIL_CHANGE_URL, {"email": "pinned2@example.com", "password": PASSWORD})
    client.post(reverse("accounts:logout"))
    link = change_link_in(mailoutbox[0])
    # In a savepoint: the locked user row, then the update in its own savepoint; then the
    # notice to the old address queued (one INSERT: the mail is sent by its job).
    with django_assert_num_queries(7):
        assert client.get(link).status_code == 200
