"""Favorites: idempotent under double clicks and concurrency, only for listings one can see,
and the "My favorites" page with keyset pages and a fixed query count."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus
from listings.models import Favorite, Listing
from listings.selectors import FAVORITES_PAGE_SIZE
from listings.services import favorite_add, favorite_remove
from marketplace.errors import ServiceError
from tests.factories import FavoriteFactory, ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db


def favorite_url(listing):
    return reverse("listings:favorite", args=[listing.slug])


def unfavorite_url(listing):
    return reverse("listings:unfavorite", args=[listing.slug])


def favorite_count(listing) -> int:
    return Listing.objects.get(pk=listing.pk).favorite_count


# --- Services -------------------------------------------------------------------------
def test_add_and_remove_are_idempotent():
    user, listing = UserFactory(), ListingFactory()
    assert favorite_add(user=user, listing=listing) is True
    assert favorite_add(user=user, listing=listing) is False
    assert Favorite.objects.filter(user=user, listing=listing).count() == 1
    assert favorite_count(listing) == 1
    assert favorite_remove(user=user, listing=listing) is True
    assert favorite_remove(user=user, listing=listing) is False
    assert favorite_count(listing) == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"visibility": Listing.Visibility.PRIVATE},
        {"visibility": Listing.Visibility.UNLISTED},
        {"status": Listing.Status.DRAFT, "published_at": None},
        {"status": Listing.Status.ARCHIVED},
    ],
)
def test_only_public_listings_can_be_favorited(fields):
    listing = ListingFactory(**fields)
    with pytest.raises(ServiceError):
        favorite_add(user=UserFactory(), listing=listing)
    with pytest.raises(ServiceError):  # not even by the owner, who can see it
        favorite_add(user=listing.seller, listing=listing)
    assert not Favorite.objects.exists()


# --- Endpoints ------------------------------------------------------------------------
def test_favorite_and_unfavorite_redirect_back(client):
    user, listing = UserFactory(), ListingFactory()
    client.force_login(user)
    response = client.post(favorite_url(listing))
    assert response.status_code == 302 and response["Location"] == listing.get_absolute_url()
    assert Favorite.objects.filter(user=user, listing=listing).exists()
    response = client.post(favorite_url(listing))  # a double click
    assert response.status_code == 302
    assert favorite_count(listing) == 1

    response = client.post(unfavorite_url(listing), {"next": reverse("listings:favorites")})
    assert response["Location"] == reverse("listings:favorites")
    assert client.post(unfavorite_url(listing)).status_code == 302  # nothing to remove: fine
    assert favorite_count(listing) == 0 and not Favorite.objects.exists()


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example.com/", "//evil.example.com/x", "javascript:alert(1)", "\\\\evil.example.com"],
)
def test_a_foreign_next_is_ignored(client, next_url):
    listing = ListingFactory()
    client.force_login(UserFactory())
    response = client.post(favorite_url(listing), {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == listing.get_absolute_url()


def test_fetch_requests_get_json(client):
    listing = ListingFactory()
    FavoriteFactory(listing=listing)
    client.force_login(UserFactory())
    response = client.post(favorite_url(listing), headers={"accept": "application/json"})
    assert response.status_code == 200
    assert response.json() == {"favorited": True, "favorite_count": 2}
    response = client.post(unfavorite_url(listing), headers={"accept": "application/json"})
    assert response.json() == {"favorited": False, "favorite_count": 1}


def test_login_required(client):
    listing = ListingFactory()
    response = client.post(favorite_url(listing))
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")
    assert client.post(unfavorite_url(listing)).status_code == 302
    assert client.get(reverse("listings:favorites")).status_code == 302
    assert not Favorite.objects.exists()


def test_only_post_changes_favorites(client):
    listing = ListingFactory()
    client.force_login(UserFactory())
    assert client.get(favorite_url(listing)).status_code == 405
    assert client.get(unfavorite_url(listing)).status_code == 405
    assert not Favorite.objects.exists()


def test_csrf_is_enforced():
    listing = ListingFactory()
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(UserFactory())
    assert csrf_client.post(favorite_url(listing)).status_code == 403
    assert not Favorite.objects.exists()
    csrf_client.get(listing.get_absolute_url())  # the page's form sets the CSRF cookie
    token = csrf_client.cookies[settings.CSRF_COOKIE_NAME].value
    assert csrf_client.post(favorite_url(listing), {"csrfmiddlewaretoken": token}).status_code == 302
    assert Favorite.objects.count() == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"visibility": Listing.Visibility.PRIVATE},
        {"visibility": Listing.Visibility.UNLISTED},
        {"status": Listing.Status.DRAFT, "published_at": None},
        {"status": Listing.Status.ARCHIVED},
        {"seller": "banned"},
    ],
)
def test_listings_one_cannot_see_cannot_be_favorited(client, fields):
    if fields.get("seller") == "banned":
        fields = {"seller": SellerFactory(account_status=AccountStatus.BANNED)}
    listing = ListingFactory(**fields)
    client.force_login(UserFactory())
    assert client.post(favorite_url(listing)).status_code == 404
    assert client.post(unfavorite_url(listing)).status_code == 404
    assert not Favorite.objects.exists()


def test_unknown_listing_is_a_404(client):
    client.force_login(UserFactory())
    assert client.post("/listings/no-such-listing/favorite/").status_code == 404


def test_owner_of_a_private_listing_cannot_favorite_it(client):
    listing = ListingFactory(visibility=Listing.Visibility.PRIVATE)
    client.force_login(listing.seller)
    assert client.post(favorite_url(listing)).status_code == 404


# --- Concurrency ----------------------------------------------------------------------
def run_concurrently(calls):
    """Run each call in its own thread, released together; each closes its connections."""
    barrier = threading.Barrier(len(calls))
    errors = []

    def worker(call):
        try:
            barrier.wait()
            call()
        except Exception as error:  # reported to the test below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def post(client, url, responses):
    return lambda: responses.append(client.post(url).status_code)


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_clicks_store_one_favorite():
    listing = ListingFactory()
    client = Client()
    client.force_login(UserFactory())
    responses = []
    run_concurrently([post(client, favorite_url(listing), responses) for _ in range(12)])
    assert responses == [302] * 12
    assert Favorite.objects.filter(listing=listing).count() == 1
    assert favorite_count(listing) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_favorites_and_unfavorites_keep_the_count_equal_to_the_rows():
    listing = ListingFactory()
    clients = []
    for _ in range(8):
        client = Client()
        client.force_login(UserFactory())
        clients.append(client)
    responses = []
    # Everyone favorites twice at once; half of them also unfavorite twice in the same burst.
    calls = [post(client, favorite_url(listing), responses) for client in clients for _ in range(2)]
    run_concurrently(calls)
    assert favorite_count(listing) == Favorite.objects.filter(listing=listing).count() == 8

    calls = [post(client, unfavorite_url(listing), responses) for client in clients[:4] for _ in range(2)]
    calls += [post(client, favorite_url(listing), responses) for client in clients[4:] for _ in range(2)]
    run_concurrently(calls)
    assert set(responses) == {302}
    assert favorite_count(listing) == Favorite.objects.filter(listing=listing).count() == 4


# --- My favorites page ----------------------------------------------------------------
def favorite_at(user, listing, minutes_ago):
    favorite = FavoriteFactory(user=user, listing=listing)
    Favorite.objects.filter(pk=favorite.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return favorite


def test_favorites_page_newest_first_with_sold_and_reserved_marked(client):
    user = UserFactory()
    favorite_at(user, ListingFactory(title="Old lamp"), 30)
    favorite_at(user, ListingFactory(title="Sold sofa", status="sold", sold_at=timezone.now()), 20)
    favorite_at(user, ListingFactory(title="Reserved rug", status="reserved"), 10)
    favorite_at(user, ListingFactory(title="Now private", visibility="private"), 5)
    favorite_at(user, ListingFactory(title="Now unlisted", visibility="unlisted"), 4)
    favorite_at(user, ListingFactory(title="Banned", seller=SellerFactory(account_status="banned")), 3)
    favorite_at(UserFactory(), ListingFactory(title="Someone else's"), 1)
    client.force_login(user)
    response = client.get(reverse("listings:favorites"))
    assert response.status_code == 200
    titles = [favorite.listing.title for favorite in response.context["page"].favorites]
    assert titles == ["Reserved rug", "Sold sofa", "Old lamp"]
    html = response.content.decode()
    assert '<p class="badge badge-sold">Sold</p>' in html
    assert '<p class="badge badge-reserved">Reserved</p>' in html
    assert html.count("/unfavorite/") == 3
    assert "Now private" not in html and "Now unlisted" not in html and "Banned" not in html


def test_favorites_page_keyset_pages_cover_everything_once(client):
    """All favorites made in one transaction share created_at: the id breaks the tie."""
    user = UserFactory()
    listings = ListingFactory.create_batch(FAVORITES_PAGE_SIZE + 6)
    for listing in listings:
        FavoriteFactory(user=user, listing=listing)
    client.force_login(user)
    seen, url, pages = [], reverse("listings:favorites"), 0
    while url:
        response = client.get(url)
        page = response.context["page"]
        seen += [favorite.listing_id for favorite in page.favorites]
        pages += 1
        url = f"{reverse('listings:favorites')}?cursor={page.next_cursor}" if page.next_cursor else None
    assert pages == 2
    assert len(seen) == len(set(seen)) == len(listings)


def test_a_bad_cursor_shows_the_first_page(client):
    user = UserFactory()
    FavoriteFactory(user=user)
    client.force_login(user)
    response = client.get(reverse("listings:favorites"), {"cursor": "not-a-cursor"})
    assert response.status_code == 200
    assert len(response.context["page"].favorites) == 1
    assert "no longer valid" in response.content.decode()


def test_empty_favorites_page(client):
    client.force_login(UserFactory())
    assert "No favorites yet" in client.get(reverse("listings:favorites")).content.decode()


@pytest.mark.parametrize("count", [2, 40])
def test_favorites_page_query_count_is_fixed(client, django_assert_num_queries, count):
    user = UserFactory()
    for listing in ListingFactory.create_batch(count, images=[{"url": "https://cdn.example.com/a.jpg"}]):
        FavoriteFactory(user=user, listing=listing)
    client.force_login(user)
    with django_assert_num_queries(2):  # the user, the page of favorites with listings and categories
        response = client.get(reverse("listings:favorites"))
    assert len(response.context["page"].favorites) == min(count, FAVORITES_PAGE_SIZE)
