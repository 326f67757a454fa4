"""A visitor's whole search page, cached (``marketplace.page_cache``, ``SEARCH_PAGE_CACHE_TTL``):
served with a fresh nonce, retired at once by the changes the home page's version follows,
never shared with members."""

import re

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.services import user_ban
from analytics.tracking import buffered_count
from listings.models import Listing
from listings.moderation import listing_take_down
from listings.services import listing_changed
from tests.factories import ListingFactory, SellerFactory, UserFactory
from tests.moderation.helpers import staff_in

pytestmark = pytest.mark.django_db


def search(client, q="walnut"):
    response = client.get(reverse("listings:search"), {"q": q})
    assert response.status_code == 200
    return response


def nonces(response) -> tuple[set[str], str]:
    allowed = response["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    return set(re.findall(r'nonce="([^"]+)"', response.content.decode())), allowed


def test_a_repeated_search_is_served_whole_with_a_fresh_nonce_and_still_recorded(
    client, django_assert_num_queries
):
    ListingFactory(title="Walnut desk")
    search(client, "desk")  # the first page ever read sets the category tree's version
    first = search(client)
    events = buffered_count()
    with django_assert_num_queries(0):
        second = search(client)
    assert buffered_count() == events + 1  # the search event, as on a miss
    # The header's nonce is fresh; the page itself carries none for a visitor.
    assert nonces(first)[1] != nonces(second)[1] and not nonces(second)[0]
    assert second.content == first.content
    assert "Walnut desk" in second.content.decode()
    assert search(client, "walnut desk").content != second.content  # another URL, another page


def test_changes_through_the_services_show_at_once(client, django_capture_on_commit_callbacks):
    seller = SellerFactory()
    listing = ListingFactory(title="Walnut desk", seller=seller, price_cents=10_000)
    kept = ListingFactory(title="Walnut shelf", seller=SellerFactory(), price_cents=5_000)
    assert "$100.00" in search(client).content.decode()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():  # an edit
        Listing.objects.filter(pk=listing.pk).update(price_cents=8_000)
        listing_changed(listing.pk)
    html = search(client).content.decode()
    assert "$80.00" in html and "$100.00" not in html

    ListingFactory(title="Walnut chair")  # published with no service: within the TTL only
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        listing_changed(kept.pk)
    assert "Walnut chair" in search(client).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        listing_take_down(listing=kept, actor=staff_in("Moderator"), reason="Counterfeit goods listed.")
    assert "Walnut shelf" not in search(client).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        user_ban(
            user=seller, actor=UserFactory(is_staff=True, is_superuser=True), reason="Fraud reported twice."
        )
    assert "Walnut desk" not in search(client).content.decode()


def test_members_never_get_the_visitors_page(client, django_assert_max_num_queries):
    ListingFactory(title="Walnut desk")
    visitors = search(client).content.decode()
    client.force_login(UserFactory())
    html = search(client).content.decode()
    assert html != visitors and "Save this search" in html and "csrfmiddlewaretoken" in html
    assert "Save this search" not in visitors and "csrfmiddlewaretoken" not in visitors


def test_a_ttl_of_zero_turns_it_off(client, settings, django_assert_max_num_queries):
    settings.SEARCH_PAGE_CACHE_TTL = 0
    ListingFactory(title="Walnut desk")
    search(client)
    ListingFactory(title="Walnut chair")  # no service, no version bump
    assert "Walnut chair" in search(client).content.decode()


def test_a_deploy_that_changes_any_static_file_changes_the_visitor_page_key(monkeypatch, rf):
    """Cached pages link to hashed static files: a new manifest (any asset changed) must not
    serve a page that links to files that are gone."""
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.staticfiles.storage import staticfiles_storage

    from marketplace.page_cache import visitor_page_key

    request = rf.get("/search/?q=desk")
    request.user = AnonymousUser()
    request.session = {}
    request._messages = FallbackStorage(request)
    staticfiles_storage.exists("x")  # the lazy storage set up, so its instance can be patched
    storage = staticfiles_storage._wrapped
    monkeypatch.setattr(storage, "manifest_hash", "a1", raising=False)
    before = visitor_page_key(request, "search-page:v1")
    monkeypatch.setattr(storage, "manifest_hash", "b2", raising=False)
    after = visitor_page_key(request, "search-page:v1")
    assert before is not None and after is not None and before != after
