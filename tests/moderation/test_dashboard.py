"""The staff dashboard's figures against a known data set, its query count, its cache, and the
page (SVG charts with a text alternative, tables, the analytics helpers' two tables)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import User
from listings.models import Listing
from moderation.dashboard import CACHE_KEY, dashboard_figures
from moderation.services import report_create
from tests.factories import (
    CategoryFactory,
    LedgerEntryFactory,
    ListingFactory,
    TransactionFactory,
    UserFactory,
)
from tests.moderation.helpers import staff_in

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def at(days_ago: int) -> datetime:
    return NOW - timedelta(days=days_ago)


def charge(category, days_ago, *, cents, currency="USD", fee=None, refund=0, dispute=False):
    txn = TransactionFactory(
        listing=ListingFactory(category=category, currency=currency),
        currency=currency,
        subtotal_cents=cents,
        total_cents=cents,
    )
    LedgerEntryFactory(
        transaction=txn, kind="charge", amount_cents=cents, currency=currency, created_at=at(days_ago)
    )
    LedgerEntryFactory(
        transaction=txn,
        kind="platform_fee",
        amount_cents=fee or cents // 10,
        currency=currency,
        created_at=at(days_ago),
    )
    if refund:
        LedgerEntryFactory(
            transaction=txn, kind="refund", amount_cents=refund, currency=currency, created_at=at(days_ago)
        )
    if dispute:
        LedgerEntryFactory(
            transaction=txn, kind="dispute", amount_cents=cents, currency=currency, created_at=at(days_ago)
        )
    return txn


@pytest.fixture
def known():
    """Sign-ups, listings, orders in two currencies and categories, a refund, a dispute, reports."""
    desks, lamps = CategoryFactory(name="Desks"), CategoryFactory(name="Lamps")
    desk = ListingFactory(category=desks)
    lamp = ListingFactory(category=lamps)
    charge(desks, 1, cents=10_000)  # USD: 100.00, fee 10.00
    charge(desks, 1, cents=5_000, refund=2_000)  # USD: 50.00, fee 5.00, refund 20.00
    charge(lamps, 40, cents=7_000, currency="EUR", dispute=True)  # EUR, 40 days ago: 90-day view only
    charge(desks, 95, cents=1_000)  # outside 90 days
    report_create(reporter=UserFactory(), target_type="listing", target_id=lamp.pk, reason="spam")
    # Everyone and everything so far was created long ago; then three sign-ups and a listing.
    User.objects.update(created_at=at(100))
    Listing.objects.update(created_at=at(100))
    for days_ago in (0, 0, 3):
        User.objects.filter(pk=UserFactory().pk).update(created_at=at(days_ago))
    Listing.objects.filter(pk=ListingFactory(category=desks).pk).update(created_at=at(2))
    return desk, lamp


def test_figures_match_a_known_data_set(known, django_assert_num_queries):
    with django_assert_num_queries(6):  # sign-ups, listings, reports, ledger, open reports, categories
        board = dashboard_figures(now=NOW)
    signups = board.counts["signups"]
    assert signups.days[-1] == TODAY and len(signups.days) == 90
    assert (signups.values[-1], signups.values[-4], signups.total) == (3, 1, 4)  # 2 + the new seller
    assert board.counts["listings"].values[-3] == 1 and board.counts["listings"].total == 1
    orders = board.counts["orders"]
    assert orders.values[-2] == 2  # yesterday: two USD charges
    assert orders.total == 3  # the EUR one 40 days ago too; the 95-day-old one is out
    assert orders.last(30).total == 2
    assert board.counts["refunds"].total == 1
    assert board.counts["disputes"].total == 1
    usd, eur = board.money["USD"], board.money["EUR"]
    assert usd["gmv"].values[-2] == 15_000
    assert usd["fees"].total == 1_500
    assert usd["refunded"].total == 2_000
    assert eur["gmv"].total == 7_000 and eur["gmv"].last(30).total == 0
    assert eur["disputed"].total == 7_000
    assert board.open_reports == 1
    assert board.counts["reports"].values[-1] == 1
    assert board.top_categories == [
        {"name": "Desks", "orders_90": 2, "orders_30": 2},
        {"name": "Lamps", "orders_90": 1, "orders_30": 0},
    ]


def test_the_page_renders_charts_and_tables_and_is_cached(known, django_assert_max_num_queries):
    cache.delete(CACHE_KEY)
    client = Client()
    client.force_login(staff_in("Support"))
    url = reverse("staff_dashboard")
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<svg class="chart" role="img"') >= 6 + 4 * 2  # counts + 4 money figures x 2 currencies
    assert 'aria-label="Orders per day from' in html
    for table in ("top-categories", "zero-result-searches", "conversion-funnel", "figures-table"):
        assert f'id="{table}"' in html
    assert "Open reports: 1" in html
    # Cached: the figures cost no query now; the page's other queries do not grow.
    with django_assert_max_num_queries(6):  # session, user, permissions, two analytics tables
        assert client.get(url, {"days": 90}).status_code == 200
    assert client.get(url, {"days": "nonsense"}).status_code == 200


def test_the_admin_index_links_the_staff_pages():
    client = Client()
    client.force_login(staff_in("Moderator"))
    html = client.get(reverse("admin:index")).content.decode()
    for url in (reverse("staff_dashboard"), reverse("admin:moderation_report_queue")):
        assert f'href="{url}"' in html
