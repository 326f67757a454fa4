import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from accounts.forms import SignupForm
from accounts.models import User
from tests.factories import UserFactory
from tests.jobs import run_jobs

pytestmark = pytest.mark.django_db

SIGNUP_URL = reverse("accounts:signup")
DONE_URL = reverse("accounts:signup_done")
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


def test_signup_creates_an_unverified_account_and_emails_a_link(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    """Changed with issue 11 (item 8): sign-up no longer logs in, since an address that already
    has an account must get the very same answer: "check your email", then log in."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(SIGNUP_URL, signup_data(email="New.Member@Example.COM"))

    assert response.status_code == 302
    assert response["Location"] == DONE_URL
    user = User.objects.get(email__iexact="new.member@example.com")
    assert user.email == "New.Member@example.com"  # the domain is normalised, the local part kept
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
    assert user.email_verified_at is None
    assert user.check_password(GOOD_PASSWORD)
    assert SESSION_KEY not in client.session

    run_jobs()
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [user.email]
    link_lines = [line for line in message.body.splitlines() if "/accounts/email/verify/" in line]
    assert len(link_lines) == 1
    assert link_lines[0].startswith("http://testserver/accounts/email/verify/")

    done = client.get(DONE_URL)
    assert "Check your email" in done.content.decode()
    assert (
        client.post(
            reverse("accounts:login"), {"username": "new.member@example.com", "password": GOOD_PASSWORD}
        ).status_code
        == 302
    )


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


def test_case_variant_of_an_existing_email_is_answered_as_new_and_the_owner_told(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    """Changed with issue 11 (item 8): it used to say "A user with this email address already
    exists", which told anyone which addresses have accounts."""
    owner = UserFactory(email="Jane.Doe@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(SIGNUP_URL, signup_data(email="jane.doe@EXAMPLE.com"))

    assert response.status_code == 302
    assert response["Location"] == DONE_URL
    assert User.objects.count() == 1
    owner.refresh_from_db()
    assert not owner.check_password(GOOD_PASSWORD)  # nothing of the account changed
    assert SESSION_KEY not in client.session
    run_jobs()
    (notice,) = mailoutbox
    assert notice.to == ["Jane.Doe@example.com"]  # the owner's address as stored, not as typed
    assert notice.subject == "Someone tried to sign up with your email address"
    assert "http://testserver/accounts/password/reset/" in notice.body


def test_a_concurrent_signup_that_wins_the_race_gets_the_same_answer_not_a_500(
    client, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    """The form's checks passed, then another request inserted the address: the unique
    index refuses the row, and the answer is still "check your email"."""
    is_valid = SignupForm.is_valid

    def valid_then_someone_else_signs_up(form):
        valid = is_valid(form)
        UserFactory(email="race@example.com")
        return valid

    monkeypatch.setattr(SignupForm, "is_valid", valid_then_someone_else_signs_up)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(SIGNUP_URL, signup_data(email="RACE@example.com"))

    assert response.status_code == 302
    assert response["Location"] == DONE_URL
    assert User.objects.count() == 1
    run_jobs()
    assert [message.to for message in mailoutbox] == [["race@example.com"]]


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
    run_jobs()
    assert mailoutbox == []


def test_next_is_carried_to_the_login_link_when_it_is_local(client):
    response = client.post(f"{SIGNUP_URL}?next=/search/", signup_data())
    assert response["Location"] == f"{DONE_URL}?next=%2Fsearch%2F"
    page = client.get(response["Location"]).content.decode()
    assert f'href="{reverse("accounts:login")}?next=/search/"' in page


def test_next_to_another_site_is_ignored(client):
    response = client.post(SIGNUP_URL, {**signup_data(), "next": "https://evil.example/"})
    assert response["Location"] == DONE_URL
    page = client.get(f"{DONE_URL}?next=https://evil.example/").content.decode()
    panel = page[page.index('<section class="auth-panel"') : page.index("</section>")]
    assert "evil.example" not in panel


def test_logged_in_users_are_sent_home(client):
    client.force_login(UserFactory())
    response = client.get(SIGNUP_URL)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_check_your_email_page_needs_no_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(DONE_URL)
    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
