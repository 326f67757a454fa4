"""``Listing.seller_banned``: the banned-seller rule as a column kept by the database (listings
migration 0015), which ``public_listings`` and the search's partial indexes read."""

from datetime import datetime

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import AccountStatus, User
from accounts.services import user_ban, user_reinstate, user_suspend
from listings.models import Listing
from listings.selectors import favorites_page, listing_is_public, public_listings
from tests.factories import FavoriteFactory, ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db

OLD = datetime.fromisoformat("2001-01-01T00:00:00+00:00")
REASON = "Listed counterfeit goods after two warnings."


def flags(*listings: Listing) -> list[bool]:
    found = dict(Listing.objects.filter(pk__in=[x.pk for x in listings]).values_list("pk", "seller_banned"))
    return [found[listing.pk] for listing in listings]


def public_ids() -> set:
    return set(public_listings().values_list("pk", flat=True))


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


def test_a_ban_through_the_service_hides_the_sellers_listings_and_a_reinstatement_shows_them(staff):
    seller = SellerFactory()
    mine = [ListingFactory(seller=seller), ListingFactory(seller=seller, status=Listing.Status.DRAFT)]
    other = ListingFactory()
    assert flags(*mine, other) == [False, False, False]
    assert public_ids() == {mine[0].pk, other.pk}

    user_ban(user=seller, actor=staff, reason=REASON)
    assert flags(*mine, other) == [True, True, False]
    assert public_ids() == {other.pk}

    user_reinstate(user=User.objects.get(pk=seller.pk), actor=staff, reason="Appeal upheld.")
    assert flags(*mine, other) == [False, False, False]
    assert public_ids() == {mine[0].pk, other.pk}


def test_a_suspension_leaves_the_listings_public(staff):
    listing = ListingFactory()
    user_suspend(user=listing.seller, actor=staff, reason=REASON)
    assert flags(listing) == [False]
    assert listing.pk in public_ids()


def test_a_ban_through_the_admin_action_hides_the_listings(settings, staff):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    listing = ListingFactory()
    client = Client()
    client.force_login(staff)
    changelist = reverse("admin:accounts_user_changelist")
    selected = {"_selected_action": [str(listing.seller_id)], "apply": "yes", "reason": REASON}

    client.post(changelist, {"action": "ban_users", **selected})
    assert flags(listing) == [True]
    client.post(changelist, {"action": "reinstate_users", **selected})
    assert flags(listing) == [False]


def test_any_write_of_the_account_status_is_followed(staff):
    """A queryset update (or raw SQL) calls no service; the trigger still sees it."""
    listing = ListingFactory()
    User.objects.filter(pk=listing.seller_id).update(account_status=AccountStatus.BANNED)
    assert flags(listing) == [True]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_user SET account_status = 'active' WHERE id = %s", [listing.seller_id]
        )
    assert flags(listing) == [False]


def test_a_listing_inserted_for_a_banned_seller_starts_hidden():
    seller = SellerFactory(account_status=AccountStatus.BANNED)
    listing = ListingFactory(seller=seller)
    # Read back on INSERT (RETURNING), so the instance agrees with the row.
    assert listing.seller_banned is True
    assert flags(listing) == [True]
    assert listing.pk not in public_ids()
    assert not listing_is_public(listing)


def test_the_application_cannot_unhide_a_banned_sellers_listing(staff):
    listing = ListingFactory()
    stale = Listing.objects.get(pk=listing.pk)
    user_ban(user=listing.seller, actor=staff, reason=REASON)

    stale.title = "Edited after the ban"
    stale.save()  # a full save of an instance read before the ban
    assert flags(listing) == [True]
    Listing.objects.filter(pk=listing.pk).update(seller_banned=False)
    assert flags(listing) == [True]


def test_moving_a_listing_to_another_seller_takes_that_sellers_status():
    listing = ListingFactory()
    banned = SellerFactory(account_status=AccountStatus.BANNED)
    Listing.objects.filter(pk=listing.pk).update(seller=banned)
    assert flags(listing) == [True]
    Listing.objects.filter(pk=listing.pk).update(seller=SellerFactory())
    assert flags(listing) == [False]


def test_a_ban_is_not_an_edit_of_the_listing(staff):
    listing = ListingFactory(updated_at=OLD)
    user_ban(user=listing.seller, actor=staff, reason=REASON)
    assert Listing.objects.get(pk=listing.pk).updated_at == OLD


def test_favorites_drop_a_banned_sellers_listing(staff):
    favorite = FavoriteFactory()
    assert [f.pk for f in favorites_page(user=favorite.user).favorites] == [favorite.pk]
    user_ban(user=favorite.listing.seller, actor=staff, reason=REASON)
    assert favorites_page(user=favorite.user).favorites == []
