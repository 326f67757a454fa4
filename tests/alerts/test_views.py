"""Saved searches from the browser's side: save from a search page, rename, change the alert,
delete; the one-click stop link from an email, logged out, signed; follow from a profile."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from alerts.models import Follow, SavedSearch
from alerts.selectors import unsubscribe_token
from alerts.services import saved_search_create
from listings.categories import bump_category_tree_version
from tests.factories import CategoryFactory, ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desks():
    category = CategoryFactory(name="Desks", slug="desks", attribute_schema=[])
    bump_category_tree_version()
    return category


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_search_page_offers_to_save_and_saving_comes_back(client, desks):
    member = UserFactory()
    client.force_login(member)
    page = client.get(reverse("listings:search"), {"q": "walnut", "category": "desks"}).content.decode()
    assert "Save this search" in page
    response = client.post(
        reverse("alerts:saved_search_save"),
        {"query": "q=walnut&category=desks&sort=newest", "next": "/search/?q=walnut&category=desks"},
    )
    assert response.status_code == 302 and response["Location"] == "/search/?q=walnut&category=desks"
    saved = SavedSearch.objects.get()
    assert saved.query == {"category": "desks", "q": "walnut"} and saved.name == "walnut, in Desks"
    listing_page = client.get(reverse("alerts:saved_searches")).content.decode()
    assert "walnut, in Desks" in listing_page and "category=desks&amp;q=walnut" in listing_page


def test_visitors_are_asked_to_log_in(client, desks):
    page = client.get(reverse("listings:search"), {"q": "walnut"}).content.decode()
    assert "to save this search" in page
    response = client.post(reverse("alerts:saved_search_save"), {"query": "q=walnut"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not SavedSearch.objects.exists()


def test_an_open_redirect_is_refused(client, desks):
    client.force_login(UserFactory())
    response = client.post(
        reverse("alerts:saved_search_save"), {"query": "q=desk", "next": "https://evil.example/"}
    )
    assert response["Location"].startswith("/search/")


def test_rename_change_alert_delete_and_bad_input(client, desks):
    member = UserFactory()
    saved = saved_search_create(user=member, params={"q": "desk"})
    client.force_login(member)
    url = reverse("alerts:saved_search_update", args=[saved.pk])
    client.post(url, {"name": "Desks for the office", "alert": "daily"})
    saved.refresh_from_db()
    assert (saved.name, saved.alert) == ("Desks for the office", "daily")
    for bad in (
        {"name": "", "alert": "daily"},
        {"name": "x" * 101, "alert": "daily"},
        {"name": "ok", "alert": "hourly"},
    ):
        response = client.post(url, bad)
        assert texts(response)
        saved.refresh_from_db()
        assert (saved.name, saved.alert) == ("Desks for the office", "daily")
    client.post(reverse("alerts:saved_search_delete", args=[saved.pk]))
    assert not SavedSearch.objects.exists()


def test_stop_link_works_logged_out_and_a_tampered_one_changes_nothing(client, desks):
    saved = saved_search_create(user=UserFactory(), params={"q": "desk"})
    url = reverse("alerts:saved_search_unsubscribe", args=[unsubscribe_token(saved)])
    assert "Stop alerts for this search" in client.get(url).content.decode()
    saved.refresh_from_db()
    assert saved.alert == "instant"  # a GET (a mail scanner) changes nothing
    tampered = reverse("alerts:saved_search_unsubscribe", args=[unsubscribe_token(saved)[:-2] + "xx"])
    assert client.post(tampered).status_code == 404
    saved.refresh_from_db()
    assert saved.alert == "instant"
    assert client.post(url).status_code == 200
    saved.refresh_from_db()
    assert saved.alert == "off"


def test_follow_from_a_profile_and_a_listing(client):
    seller = SellerFactory()
    listing = ListingFactory(seller=seller)
    fan = UserFactory()
    client.force_login(fan)
    profile = client.get(reverse("accounts:profile", args=[seller.pk])).content.decode()
    assert "Follow seller" in profile
    client.post(
        reverse("alerts:follow", args=[seller.pk]), {"alert": "on", "next": listing.get_absolute_url()}
    )
    assert Follow.objects.get().alert is True
    assert "Unfollow" in client.get(listing.get_absolute_url()).content.decode()
    client.post(reverse("alerts:unfollow", args=[seller.pk]))
    assert not Follow.objects.exists()
    # Your own profile has no follow button.
    client.force_login(seller)
    assert "Follow seller" not in client.get(reverse("accounts:profile", args=[seller.pk])).content.decode()


def test_saved_searches_page_query_count(client, desks, django_assert_max_num_queries):
    member = UserFactory()
    client.force_login(member)
    for n in range(10):
        saved_search_create(user=member, params={"q": f"desk{n}"})
    with django_assert_max_num_queries(6):
        assert client.get(reverse("alerts:saved_searches")).status_code == 200
