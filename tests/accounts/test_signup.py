import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from accounts.forms import SignupForm
from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SIGNUP_URL = reverse("accounts:signup")
GOOD_PASSWORD = "plum-Orchard-42-velvet"


def signup_data(**overrides):
    data = {
        "email": "new.member@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password1": GOOD_PASSWORD,
        "password2": GOOD_PASSWORD,
    }
    data.update(overrides)
    return data


def field_errors(response, name):
    return response.context["form"].errors.get(name, [])


def test_page_has_stable_labels_and_button(client):
    response = client.get(SIGNUP_URL)
    html = response.content.decode()
    assert response.status_code == 200
    for label in ("Email", "Password", "Confirm password"):
        assert re.search(rf"<label for=\"id_\w+\">{label}</label>", html), label
    assert '<button type="submit">Sign up</button>' in html


def test_signup_creates_an_unverified_account_logs_in_and_emails_a_link(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(SIGNUP_URL, signup_data(email="New.Member@Example.COM"))

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    user = User.objects.get(email__iexact="new.member@example.com")
    assert user.email == "New.Member@example.com"  # the domain is normalised, the local part kept
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
    assert user.email_verified_at is None
    assert user.check_password(GOOD_PASSWORD)
    assert client.session[SESSION_KEY] == str(user.pk)

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [user.email]
    link_lines = [line for line in message.body.splitlines() if "/accounts/email/verify/" in line]
    assert len(link_lines) == 1
    assert link_lines[0].startswith("http://testserver/accounts/email/verify/")

    home = client.get(reverse("home"))
    assert "open it to verify your email address" in home.content.decode()


def test_names_are_optional(client):
    response = client.post(SIGNUP_URL, signup_data(first_name="", last_name=""))
    assert response.status_code == 302
    assert User.objects.get(email="new.member@example.com").first_name == ""


def test_csrf_is_enforced():
    browser = Client(enforce_csrf_checks=True)
    refused = browser.post(SIGNUP_URL, signup_data())
    assert refused.status_code == 403
    assert not User.objects.exists()

    browser.get(SIGNUP_URL)
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(SIGNUP_URL, {**signup_data(), "csrfmiddlewaretoken": token})
    assert accepted.status_code == 302
    assert User.objects.filter(email="new.member@example.com").exists()


def test_case_variant_of_an_existing_email_is_a_form_error(client, mailoutbox):
    UserFactory(email="Jane.Doe@example.com")

    response = client.post(SIGNUP_URL, signup_data(email="jane.doe@EXAMPLE.com"))

    assert response.status_code == 200
    assert field_errors(response, "email") == ["A user with this email address already exists."]
    assert User.objects.count() == 1
    assert SESSION_KEY not in client.session
    assert mailoutbox == []


def test_a_concurrent_signup_that_wins_the_race_gives_a_form_error_not_a_500(client, monkeypatch):
    """The form's checks passed, then another request inserted the address: the unique
    index refuses the row and the page says why."""
    is_valid = SignupForm.is_valid

    def valid_then_someone_else_signs_up(form):
        valid = is_valid(form)
        UserFactory(email="race@example.com")
        return valid

    monkeypatch.setattr(SignupForm, "is_valid", valid_then_someone_else_signs_up)

    response = client.post(SIGNUP_URL, signup_data(email="RACE@example.com"))

    assert response.status_code == 200
    assert field_errors(response, "email") == ["A user with this email address already exists."]
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"password2": "something-else-entirely"}, "password2", "didn’t match"),
        ({"password1": "short", "password2": "short"}, "password2", "too short"),
        ({"password1": "password123", "password2": "password123"}, "password2", "too common"),
        ({"password1": "8406127939", "password2": "8406127939"}, "password2", "entirely numeric"),
        (
            {"password1": "new.member.example", "password2": "new.member.example"},
            "password2",
            "too similar",
        ),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"email": ""}, "email", "required"),
        ({"password1": ""}, "password1", "required"),
        ({"first_name": "x" * 101}, "first_name", "at most 100"),
    ],
)
def test_bad_input_gets_a_clear_error_and_creates_nothing(client, mailoutbox, overrides, field, fragment):
    response = client.post(SIGNUP_URL, signup_data(**overrides))

    assert response.status_code == 200
    assert any(fragment in error for error in field_errors(response, field)), field_errors(response, field)
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html  # the error list is tied to its input
    assert 'aria-invalid="true"' in html
    assert not User.objects.exists()
    assert mailoutbox == []


def test_next_is_followed_when_it_is_local(client):
    response = client.post(f"{SIGNUP_URL}?next=/search/", signup_data())
    assert response["Location"] == "/search/"


def test_next_to_another_site_is_ignored(client):
    response = client.post(SIGNUP_URL, {**signup_data(), "next": "https://evil.example/"})
    assert response["Location"] == reverse("home")


def test_logged_in_users_are_sent_home(client):
    client.force_login(UserFactory())
    response = client.get(SIGNUP_URL)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
