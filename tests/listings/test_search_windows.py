"""Best match's candidate windows (listings.search.ranking._newest_sql): naming a window's
days one by one (``day_lists``, the plan for searches without a category) finds exactly the
candidates that a lower day bound finds, wherever the listings fall, clock skew included."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from listings.models import Listing
from listings.search import keyword_query
from listings.search.ranking import candidates_sql
from listings.selectors import public_listings
from tests.factories import ListingFactory

pytestmark = pytest.mark.django_db

# Hours from now: the future (a skewed clock), each window, and each window's edges.
OFFSETS = [72, 30, 1, 0, -1, -23, -25, -24 * 6, -24 * 8, -24 * 29, -24 * 31, -24 * 89, -24 * 91, -24 * 400]


def candidate_ids(q: str, now, *, day_lists: bool) -> set[str]:
    matching = public_listings().filter(search_vector=keyword_query(q))
    sql, params = candidates_sql(matching, keyword_query(q), now, public_listings(), day_lists)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {str(row[0]) for row in cursor.fetchall()}


@pytest.mark.parametrize("limit", [3, 7, 100])
def test_day_lists_find_the_same_candidates(settings, limit):
    settings.SEARCH_RANK_CANDIDATES = limit
    now = timezone.now()
    for index, hours in enumerate(OFFSETS):
        title = "Brass lamp" if index % 2 else "Brass table"
        listing = ListingFactory(title=title, description="A lamp, brass." if index % 3 else "Plain.")
        Listing.objects.filter(pk=listing.pk).update(published_at=now + timedelta(hours=hours))
    for q in ("lamp", "brass", "brass lamp"):
        expected = candidate_ids(q, now, day_lists=False)
        assert candidate_ids(q, now, day_lists=True) == expected
        assert len(expected) <= 2 * limit
    # The newest of them are candidates whichever way: the skewed future one included.
    newest = public_listings().filter(search_vector=keyword_query("brass")).order_by("-published_at")[:1]
    assert str(newest.get().pk) in candidate_ids("brass", now, day_lists=True)
