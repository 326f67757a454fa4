import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.views import PROFILE_LISTINGS_LIMIT
from listings.models import Listing
from reviews.models import Review
from tests.factories import ListingFactory, ReviewFactory, SellerFactory, TransactionFactory, UserFactory

pytestmark = pytest.mark.django_db

EDIT_URL = reverse("accounts:profile_edit")


def profile_url(user) -> str:
    return reverse("accounts:profile", kwargs={"user_id": user.pk})


def review_of(seller, *, rating=5, **kwargs) -> Review:
    """A buyer's review of ``seller`` after a completed purchase."""
    transaction = TransactionFactory(
        listing=ListingFactory(seller=seller, status=Listing.Status.SOLD, sold_at=timezone.now())
    )
    return ReviewFactory(transaction=transaction, rating=rating, **kwargs)


# --- Editing one's own profile --------------------------------------------------------------


def test_edit_needs_login(client):
    response = client.get(EDIT_URL)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={EDIT_URL}"


def test_edit_shows_current_values_with_labels(client):
    user = UserFactory(first_name="Grace", last_name="Hopper", bio="Compilers.")
    client.force_login(user)
    html = client.get(EDIT_URL).content.decode()
    for label, field in [("First name", "first_name"), ("Last name", "last_name"), ("About you", "bio")]:
        assert f'<label for="id_{field}">{label}</label>' in html
    assert '<label for="id_avatar">Profile photo</label>' in html
    assert 'value="Grace"' in html
    assert "Compilers." in html
    assert 'enctype="multipart/form-data"' in html


def test_edit_saves_names_and_bio(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(EDIT_URL, {"first_name": " Grace ", "last_name": "Hopper", "bio": "Navy."})
    assert response["Location"] == EDIT_URL
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.bio) == ("Grace", "Hopper", "Navy.")
    assert "Your profile was saved." in client.get(EDIT_URL).content.decode()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"first_name": "x" * 101, "last_name": "", "bio": ""}, "first_name"),
        ({"first_name": "", "last_name": "y" * 101, "bio": ""}, "last_name"),
        ({"first_name": "", "last_name": "", "bio": "z" * 2001}, "bio"),
    ],
)
def test_edit_bad_input_changes_nothing(client, data, field):
    user = UserFactory(first_name="Grace", last_name="Hopper", bio="Navy.")
    client.force_login(user)
    response = client.post(EDIT_URL, data)
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert f'id="id_{field}_error"' in response.content.decode()
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.bio) == ("Grace", "Hopper", "Navy.")
    # Not even the request's copy of the user changed: the header still shows the old name.
    assert ">Grace Hopper</a>" in response.content.decode()


def test_edit_always_edits_the_logged_in_user(client):
    """No id travels with the form: extra fields naming someone else are ignored."""
    me, victim = UserFactory(first_name="Me"), UserFactory(first_name="Victim", email="victim@example.com")
    client.force_login(me)

    client.post(
        EDIT_URL,
        {"first_name": "Changed", "last_name": "", "bio": "", "id": str(victim.pk), "email": "x@example.com"},
    )
    client.post(f"{EDIT_URL}?user_id={victim.pk}", {"first_name": "Again", "last_name": "", "bio": ""})

    victim.refresh_from_db()
    me.refresh_from_db()
    assert victim.first_name == "Victim"
    assert victim.email == "victim@example.com"
    assert me.first_name == "Again"
    assert me.email != "x@example.com"


def test_profile_edit_url_takes_no_user():
    assert EDIT_URL == "/accounts/profile/"
    with pytest.raises(Exception):  # noqa: B017 - NoReverseMatch
        reverse("accounts:profile_edit", kwargs={"user_id": uuid.uuid4()})


# --- The public profile ---------------------------------------------------------------------


def test_public_profile_shows_the_member(client):
    seller = SellerFactory(
        first_name="Ada",
        last_name="Lovelace",
        bio="Engines & numbers.",
        phone_verified_at=timezone.now(),
        kyc_verified_at=None,
        seller_verified_at=timezone.now(),
    )
    shown = ListingFactory(seller=seller, title="Difference engine")
    ListingFactory(seller=seller, title="Draft thing", status=Listing.Status.DRAFT, published_at=None)
    ListingFactory(seller=seller, title="Private thing", visibility=Listing.Visibility.PRIVATE)
    ListingFactory(title="Someone else's")
    review = review_of(seller, rating=4, comment="Prompt and kind.")
    review_of(seller, rating=2, comment="Hidden by moderation.", status=Review.Status.FLAGGED)
    seller.refresh_from_db()

    response = client.get(profile_url(seller))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 id="profile-name">Ada Lovelace</h1>' in html
    assert f"Member since {timezone.now():%B %Y}" in html
    assert "Engines &amp; numbers." in html
    assert "Email verified" in html
    assert "Phone verified" in html
    assert "Verified seller" in html
    assert "Identity verified" not in html
    assert "4.0 / 5</strong> from 1 review" in html  # only the active review counts
    assert '<h2 id="rating-buyer-heading">As a buyer</h2>\n    <p>No reviews yet' in html
    assert shown.get_absolute_url() in html
    assert "Draft thing" not in html
    assert "Private thing" not in html
    assert "Someone else" not in html
    assert "Prompt and kind." in html
    assert "Hidden by moderation." not in html
    assert review.reviewer.first_name in html


def test_public_profile_never_shows_the_email_address(client):
    member = UserFactory(first_name="", last_name="", email="secret.handle@example.com")
    html = client.get(profile_url(member)).content.decode()
    assert "secret.handle" not in html
    assert "Marketplace member" in html


def test_listing_list_is_capped(client):
    seller = SellerFactory()
    ListingFactory.create_batch(PROFILE_LISTINGS_LIMIT + 1, seller=seller)
    response = client.get(profile_url(seller))
    assert len(response.context["profile"].listings) == PROFILE_LISTINGS_LIMIT
    assert f"Showing the {PROFILE_LISTINGS_LIMIT} newest listings." in response.content.decode()


def test_unknown_user_is_404(client):
    assert client.get(reverse("accounts:profile", kwargs={"user_id": uuid.uuid4()})).status_code == 404


def test_banned_profile_is_404_except_for_staff(client):
    banned = SellerFactory(account_status=User.AccountStatus.BANNED, first_name="Mallory")
    ListingFactory(seller=banned, title="Stolen goods")

    assert client.get(profile_url(banned)).status_code == 404
    client.force_login(UserFactory())
    assert client.get(profile_url(banned)).status_code == 404

    client.force_login(UserFactory(is_staff=True))
    response = client.get(profile_url(banned))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Mallory" in html
    assert "only staff can see this page" in html
    assert "Stolen goods" not in html  # a banned seller's listings are off public pages


def test_suspended_profile_is_visible(client):
    suspended = UserFactory(account_status=User.AccountStatus.SUSPENDED)
    assert client.get(profile_url(suspended)).status_code == 200


@pytest.mark.parametrize("logged_in", [False, True])
def test_query_count_does_not_grow_with_listings_or_reviews(client, django_assert_max_num_queries, logged_in):
    """Anonymous: the user (ratings, chart and detailed averages are columns of it), their
    listings, one page of their reviews. Logged in: plus request.user, the member's flags on
    that page (the flag forms) and whether they follow the seller."""
    seller = SellerFactory()
    ListingFactory(seller=seller)
    review_of(seller)
    if logged_in:
        client.force_login(UserFactory())
    budget = 6 if logged_in else 3

    with django_assert_max_num_queries(budget):
        assert client.get(profile_url(seller)).status_code == 200

    ListingFactory.create_batch(10, seller=seller)
    for _ in range(8):
        review_of(seller)
    with django_assert_max_num_queries(budget):
        response = client.get(profile_url(seller))
    assert len(response.context["profile"].listings) == 11  # the reviewed (sold) listings are not shown
    assert len(response.context["profile"].reviews) == 9
