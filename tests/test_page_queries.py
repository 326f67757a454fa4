"""Query counts of the simple pages, pinned so they cannot grow with the data behind them.
(Pages with lists have their own tests beside their app: search, listing, favorites,
profiles, dashboard, admin.)"""

import pytest
from django.urls import reverse

from tests.factories import CategoryFactory, ListingFactory, UserFactory

pytestmark = pytest.mark.django_db

ANONYMOUS_PAGES = [
    ("accounts:login", 0),
    ("accounts:signup", 0),
    ("accounts:password_reset", 0),
    ("robots", 0),
]
# The session's user is one query (the header's unread-messages and notifications badges were
# counted and cached at log-in); the profile page also reads the member's notification settings.
MEMBER_PAGES = [
    ("accounts:profile_edit", 2),
    ("accounts:email_change", 1),
    ("accounts:password_change", 1),
    ("privacy:delete_account", 1),
    ("privacy:your_data", 2),  # and the member's exports (tests/privacy: not growing with them)
]


@pytest.mark.parametrize(("name", "queries"), ANONYMOUS_PAGES)
def test_anonymous_pages(client, django_assert_max_num_queries, name, queries):
    with django_assert_max_num_queries(queries):
        assert client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize(("name", "queries"), MEMBER_PAGES)
def test_member_pages(client, django_assert_max_num_queries, name, queries):
    client.force_login(UserFactory())
    with django_assert_max_num_queries(queries):
        assert client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("count", [2, 25])
def test_sitemaps_do_not_grow_with_listings(client, django_assert_max_num_queries, count):
    category = CategoryFactory()
    for _ in range(count):
        ListingFactory(category=category)
    # The index counts each section's pages: listings (count + latest change) and categories.
    with django_assert_max_num_queries(3):
        assert client.get("/sitemap.xml").status_code == 200
    with django_assert_max_num_queries(2):
        response = client.get("/sitemap-listings.xml")
    assert response.status_code == 200
    assert response.content.count(b"<url>") == count
