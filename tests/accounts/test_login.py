import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory
from tests.jobs import run_jobs

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("accounts:login")
LOGOUT_URL = reverse("accounts:logout")
PASSWORD = "correct horse battery staple"  # UserFactory's
NEW_PASSWORD = "quartz-Lantern-77-meadow"


@pytest.fixture
def member():
    return UserFactory(email="Member@example.com")


def login(client, email, password=PASSWORD, **extra):
    return client.post(LOGIN_URL, {"username": email, "password": password, **extra})


def link_in(message) -> str:
    (line,) = [line for line in message.body.splitlines() if line.startswith("http")]
    return line.removeprefix("http://testserver")


# --- Log in, log out --------------------------------------------------------------------------


def test_page_has_stable_labels_and_button(client):
    html = client.get(LOGIN_URL).content.decode()
    assert re.search(r'<label for="id_username">Email</label>', html)
    assert re.search(r'<label for="id_password">Password</label>', html)
    assert 'type="email"' in html
    assert '<button type="submit">Log in</button>' in html


@pytest.mark.parametrize("typed", ["Member@example.com", "member@example.com", "MEMBER@EXAMPLE.COM"])
def test_log_in_by_email_in_any_case(client, member, typed):
    response = login(client, typed)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session[SESSION_KEY] == str(member.pk)


@pytest.mark.parametrize(
    ("email", "password"),
    [("member@example.com", "wrong password"), ("nobody@example.com", PASSWORD)],
)
def test_wrong_credentials_get_one_message_that_reveals_nothing(client, member, email, password):
    response = login(client, email, password)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["The email address or password is incorrect."]
    assert 'role="alert"' in response.content.decode()
    assert SESSION_KEY not in client.session


def test_empty_fields_are_field_errors(client):
    response = client.post(LOGIN_URL, {"username": "", "password": ""})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["username"] == ["This field is required."]
    assert errors["password"] == ["This field is required."]


def test_next_is_followed(client, member):
    response = login(client, "member@example.com", next="/search/?q=desk")
    assert response["Location"] == "/search/?q=desk"


def test_the_login_page_carries_next_through_its_form(client, member):
    """From a page that needed a login (?next=...), the form posts ``next`` back: after
    logging in the member lands where they were going, not on the home page."""
    page = client.get(f"{LOGIN_URL}?next=/favorites/").content.decode()
    carried = re.search(r'<input type="hidden" name="next" value="([^"]*)">', page)
    assert carried is not None and carried.group(1) == "/favorites/"
    response = login(client, "member@example.com", next=carried.group(1))
    assert response["Location"] == "/favorites/"


def test_next_to_another_site_is_ignored(client, member):
    response = login(client, "member@example.com", next="https://evil.example/")
    assert response["Location"] == reverse("home")


def test_csrf_is_enforced(member):
    browser = Client(enforce_csrf_checks=True)
    assert login(browser, "member@example.com").status_code == 403

    browser.get(LOGIN_URL)
    token = browser.cookies["csrftoken"].value
    response = login(browser, "member@example.com", csrfmiddlewaretoken=token)
    assert response.status_code == 302
    assert browser.session[SESSION_KEY] == str(member.pk)


def test_logout_is_a_post(client, member):
    client.force_login(member)
    assert client.get(LOGOUT_URL).status_code == 405
    assert SESSION_KEY in client.session

    response = client.post(LOGOUT_URL)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert SESSION_KEY not in client.session


def test_header_offers_log_in_then_log_out(client, member):
    html = client.get(reverse("home")).content.decode()
    assert f'href="{LOGIN_URL}?next=' in html
    client.force_login(member)
    html = client.get(reverse("home")).content.decode()
    assert f'action="{LOGOUT_URL}"' in html
    assert reverse("accounts:profile_edit") in html


# --- Password change ------------------------------------------------------------------------


def test_password_change_needs_login(client):
    response = client.get(reverse("accounts:password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


def test_password_change_ends_other_sessions(client, member):
    other_browser = Client()
    other_browser.force_login(member)
    client.force_login(member)

    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response["Location"] == reverse("accounts:password_change_done")
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert client.get(reverse("accounts:profile_edit")).status_code == 200  # this session stays
    assert other_browser.get(reverse("accounts:profile_edit")).status_code == 302


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
            "old_password",
        ),
        (
            {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": "other"},
            "new_password2",
        ),
        ({"old_password": PASSWORD, "new_password1": "123", "new_password2": "123"}, "new_password2"),
    ],
)
def test_password_change_bad_input_changes_nothing(client, member, data, field):
    client.force_login(member)
    response = client.post(reverse("accounts:password_change"), data)
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


# --- Password reset -------------------------------------------------------------------------


def test_password_reset_end_to_end(client, member, mailoutbox):
    response = client.post(reverse("accounts:password_reset"), {"email": "MEMBER@example.COM"})
    assert response["Location"] == reverse("accounts:password_reset_done")
    run_jobs()
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["Member@example.com"]
    assert mailoutbox[0].subject == "Reset your Marketplace password"

    link = link_in(mailoutbox[0])
    form_page = client.get(link, follow=True)  # Django swaps the token for a session marker
    assert form_page.context["validlink"] is True
    set_password_url = form_page.redirect_chain[-1][0]

    mismatch = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": "nope"})
    assert mismatch.status_code == 200
    assert mismatch.context["form"].errors["new_password2"]
    member.refresh_from_db()
    assert member.check_password(PASSWORD)

    done = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == reverse("accounts:password_reset_complete")
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert login(Client(), "member@example.com", NEW_PASSWORD).status_code == 302

    reused = client.get(link, follow=True)
    assert reused.context["validlink"] is False
    assert "not valid" in reused.content.decode()


def test_password_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(client, mailoutbox):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("accounts:password_reset_done")
    run_jobs()
    assert mailoutbox == []


def test_password_reset_bad_input(client, mailoutbox):
    response = client.post(reverse("accounts:password_reset"), {"email": "not an email"})
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["Enter a valid email address."]
    run_jobs()
    assert mailoutbox == []


def test_tampered_reset_link_is_refused(client, member, mailoutbox):
    client.post(reverse("accounts:password_reset"), {"email": member.email})
    run_jobs()
    link = link_in(mailoutbox[0])
    response = client.get(link[:-3] + "xyz/", follow=True)
    assert response.context["validlink"] is False
    assert User.objects.get(pk=member.pk).check_password(PASSWORD)
