"""Becoming a seller at /sell/start/: verified email and good standing required, seller name
and phone number validated and normalised, a new phone number loses its verification."""

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus, User
from accounts.services import normalize_phone_number, seller_onboard
from marketplace.errors import ServiceError
from tests.factories import SellerFactory, UserFactory
from tests.jobs import run_jobs

pytestmark = pytest.mark.django_db

START_URL = "/sell/start/"


def fresh(user) -> User:
    return User.objects.get(pk=user.pk)


def test_start_url_is_named():
    assert reverse("sell:start") == START_URL
    assert reverse("sell:dashboard") == "/sell/"


# --- The service ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        (" +1 (415) 555-0100 ", "+14155550100"),
        ("0049.30.1234567", "+49301234567"),
        ("+12345678", "+12345678"),  # 8 digits
        ("+123456789012345", "+123456789012345"),  # 15 digits
        ("", ""),
        ("   ", ""),
    ],
)
def test_phone_numbers_are_normalised(raw, expected):
    assert normalize_phone_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "020 7946 0958",
        "+1234567",
        "+1234567890123456",
        "+0441234567",
        "+44 20 79x6 0958",
        "++4420794609",
        "tel:+44",
    ],
)
def test_bad_phone_numbers_are_refused(raw):
    with pytest.raises(ServiceError) as caught:
        normalize_phone_number(raw)
    assert caught.value.code == "phone_invalid"


def test_seller_onboard_makes_a_seller():
    user = UserFactory()
    seller_onboard(user=user, display_name="  Ada's   Attic ", phone_number="+44 20 7946 0958")
    user = fresh(user)
    assert user.is_seller
    assert user.seller_display_name == "Ada's Attic"
    assert user.phone_number == "+442079460958"
    assert user.phone_verified_at is None
    assert user.display_name == "Ada's Attic"


def test_phone_change_resets_its_verification_and_nothing_else():
    verified_at = timezone.now()
    user = SellerFactory(
        seller_display_name="Old name",
        phone_number="+442079460958",
        phone_verified_at=verified_at,
        kyc_verified_at=verified_at,
        seller_verified_at=verified_at,
    )
    seller_onboard(user=user, display_name="New name", phone_number="+44 20 7946 0958")  # same number
    assert fresh(user).phone_verified_at == verified_at
    assert fresh(user).seller_display_name == "New name"

    seller_onboard(user=user, display_name="New name", phone_number="+14155550100")
    user = fresh(user)
    assert user.phone_number == "+14155550100"
    assert user.phone_verified_at is None
    assert user.kyc_verified_at == verified_at  # badges are not touched
    assert user.seller_verified_at == verified_at


def test_removing_the_phone_number_resets_its_verification():
    user = SellerFactory(
        seller_display_name="Shop", phone_number="+442079460958", phone_verified_at=timezone.now()
    )
    seller_onboard(user=user, display_name="Shop", phone_number="")
    user = fresh(user)
    assert user.phone_number == "" and user.phone_verified_at is None


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"email_verified_at": None}, "email_unverified"),
        ({"account_status": AccountStatus.SUSPENDED}, "account_suspended"),
        ({"account_status": AccountStatus.BANNED}, "account_banned"),
    ],
)
def test_seller_onboard_refuses(fields, code):
    user = UserFactory(**fields)
    with pytest.raises(ServiceError) as caught:
        seller_onboard(user=user, display_name="My shop", phone_number="")
    assert caught.value.code == code
    assert not fresh(user).is_seller


def test_seller_onboard_rechecks_the_locked_row():
    """A suspension that committed after the request loaded the user still wins."""
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(account_status=AccountStatus.SUSPENDED)
    with pytest.raises(ServiceError) as caught:
        seller_onboard(user=user, display_name="My shop", phone_number="")
    assert caught.value.code == "account_suspended"
    assert not fresh(user).is_seller


@pytest.mark.parametrize("name", ["", "A", " A ", "x" * 81])
def test_seller_onboard_refuses_bad_names(name):
    user = UserFactory()
    with pytest.raises(ServiceError) as caught:
        seller_onboard(user=user, display_name=name, phone_number="")
    assert caught.value.code == "display_name_invalid"
    assert not fresh(user).is_seller


# --- The page ---------------------------------------------------------------------------
def test_anonymous_is_sent_to_log_in(client):
    response = client.get(START_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")


def test_onboarding_happy_path(client):
    user = UserFactory(first_name="Ada", last_name="Lovelace")
    client.force_login(user)
    response = client.get(START_URL)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["display_name"] == "Ada Lovelace"  # suggested from the profile
    body = response.content.decode()
    assert "Payouts with Stripe" in body and "Not connected yet" in body
    assert "badges buyers see" in body

    response = client.post(START_URL, {"display_name": "Ada's Attic", "phone_number": "+1 415 555 0100"})
    assert response.status_code == 302
    assert response["Location"] == reverse("sell:dashboard")
    user = fresh(user)
    assert (user.is_seller, user.seller_display_name, user.phone_number) == (
        True,
        "Ada's Attic",
        "+14155550100",
    )

    response = client.get(response["Location"])
    assert response.status_code == 200
    assert "You are now a seller" in response.content.decode()


def test_the_suggested_name_never_comes_from_the_email_address(client):
    client.force_login(UserFactory(email="secret.person@example.com", first_name="", last_name=""))
    response = client.get(START_URL)
    assert response.context["form"].initial["display_name"] == ""
    assert 'value="secret.person"' not in response.content.decode()


def test_a_seller_edits_their_details(client):
    user = SellerFactory(
        seller_display_name="Old shop", phone_number="+442079460958", phone_verified_at=timezone.now()
    )
    client.force_login(user)
    response = client.get(START_URL)
    assert response.context["form"].initial == {"display_name": "Old shop", "phone_number": "+442079460958"}
    assert "Your seller details" in response.content.decode()

    response = client.post(START_URL, {"display_name": "New shop", "phone_number": "+442079460958"})
    assert response.status_code == 302 and response["Location"] == START_URL
    assert fresh(user).seller_display_name == "New shop"
    assert fresh(user).phone_verified_at is not None  # same number: still verified

    client.post(START_URL, {"display_name": "New shop", "phone_number": "+14155550100"})
    assert fresh(user).phone_verified_at is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"display_name": "", "phone_number": ""}, "display_name", "This field is required."),
        ({"display_name": " A ", "phone_number": ""}, "display_name", "2 to 80 characters"),
        ({"display_name": "x" * 81, "phone_number": ""}, "display_name", "2 to 80 characters"),
        (
            {"display_name": "My shop", "phone_number": "020 7946 0958"},
            "phone_number",
            "international format",
        ),
        ({"display_name": "My shop", "phone_number": "+12"}, "phone_number", "8 to 15 digits"),
    ],
)
def test_bad_input_gets_field_errors_and_saves_nothing(client, data, field, message):
    user = UserFactory()
    client.force_login(user)
    response = client.post(START_URL, data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert message in response.content.decode()
    user = fresh(user)
    assert (user.is_seller, user.seller_display_name, user.phone_number) == (False, "", "")


def test_unverified_email_is_refused_with_the_resend_offer(client):
    user = UserFactory(email_verified_at=None)
    client.force_login(user)
    response = client.get(START_URL)
    assert response.status_code == 200
    assert response.context["form"] is None
    body = response.content.decode()
    assert "Verify your email address before you start selling" in body
    assert f'action="{reverse("accounts:verify_email_resend")}"' in body
    assert "Send a new verification link" in body

    response = client.post(START_URL, {"display_name": "My shop", "phone_number": ""})
    assert response.status_code == 403
    assert not fresh(user).is_seller


def test_the_resend_offer_sends_a_link(client, mailoutbox, django_capture_on_commit_callbacks):
    user = UserFactory(email_verified_at=None)
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:verify_email_resend"))
    assert response.status_code == 302
    run_jobs()
    assert [message.to for message in mailoutbox] == [[user.email]]


@pytest.mark.parametrize("is_seller", [False, True])
def test_suspended_users_are_refused(client, is_seller):
    user = UserFactory(
        account_status=AccountStatus.SUSPENDED, is_seller=is_seller, seller_display_name="Shop"
    )
    client.force_login(user)
    response = client.get(START_URL)
    assert response.status_code == 200
    assert response.context["form"] is None
    assert "Your account is suspended" in response.content.decode()

    response = client.post(START_URL, {"display_name": "Another name", "phone_number": ""})
    assert response.status_code == 403
    user = fresh(user)
    assert (user.is_seller, user.seller_display_name) == (is_seller, "Shop")


def test_verification_badges_are_shown_without_faking_any(client):
    user = UserFactory()
    client.force_login(user)
    body = client.get(START_URL).content.decode()
    assert body.count("Not verified yet") == 3  # phone, KYC, verified seller
    assert body.count('class="badge badge-verified"') == 1  # the email

    now = timezone.now()
    User.objects.filter(pk=user.pk).update(phone_verified_at=now, kyc_verified_at=now, seller_verified_at=now)
    body = client.get(START_URL).content.decode()
    assert "Not verified yet" not in body
    assert body.count('class="badge badge-verified"') == 4


def test_header_offers_start_selling_or_the_dashboard(client):
    body = client.get(reverse("home")).content.decode()
    assert f'href="{START_URL}">Start selling' in body  # anonymous: start (after logging in)

    user = UserFactory()
    client.force_login(user)
    body = client.get(reverse("home")).content.decode()
    assert f'href="{START_URL}">Start selling' in body
    assert ">Dashboard</a>" not in body

    User.objects.filter(pk=user.pk).update(is_seller=True, seller_display_name="Shop")
    body = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("sell:dashboard")}">Dashboard</a>' in body
    assert "Start selling" not in body


@pytest.mark.django_db
def test_start_page_query_count_is_fixed(client, django_assert_max_num_queries):
    from django.urls import reverse

    from tests.factories import UserFactory

    client.force_login(UserFactory())
    with django_assert_max_num_queries(1):  # the session's user; payout status is cached or absent
        assert client.get(reverse("sell:start")).status_code == 200
