"""Admin at scale: every changelist's query count is the same at 20 and at 100 rows (the page
size), the big tables skip the exact COUNT, and searches on email, names and listing titles
compile to what the trigram indexes serve."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from analytics.models import Event
from listings.models import Listing
from marketplace.admin import EstimatedCountPaginator
from marketplace.models import AuditEntry
from messaging.models import Message
from payments.models import LedgerEntry
from tests.test_admin import CASES, admin_url, case_id

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sessions_in_signed_cookies(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_changelist_queries_are_pinned_at_20_and_100_rows(case, admin_client):
    url = admin_url(case.model, "changelist")
    existing = case.model._default_manager.count()
    for _ in range(max(20 - existing, 0)):
        case.make()
    admin_client.get(url)  # warm process-wide caches (content types)
    with CaptureQueriesContext(connection) as at_20:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 20
    for _ in range(100 - case.model._default_manager.count()):
        case.make()
    with CaptureQueriesContext(connection) as at_100:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 100  # one full page
    assert len(at_100) == len(at_20) <= case.changelist_queries


@pytest.mark.parametrize("model", [Event, LedgerEntry, Message, AuditEntry], ids=lambda m: m._meta.label)
def test_big_tables_estimate_their_count(model):
    model_admin = admin.site._registry[model]
    assert model_admin.paginator is EstimatedCountPaginator
    assert model_admin.show_full_result_count is False


def test_the_estimate_is_exact_below_the_threshold_and_the_planners_above(monkeypatch):
    from tests.factories import UserFactory

    for _ in range(3):
        UserFactory()
    paginator = EstimatedCountPaginator(User.objects.order_by("pk"), 20)
    assert paginator.count == 3  # small: counted
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_user")
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", 0)
    paginator = EstimatedCountPaginator(User.objects.order_by("pk"), 20)
    with CaptureQueriesContext(connection) as queries:
        estimate = paginator.count
    assert len(queries) == 1 and "count(*)" not in queries[0]["sql"].split("ELSE")[0].lower()
    assert estimate >= 0
    filtered = EstimatedCountPaginator(User.objects.filter(is_staff=True).order_by("pk"), 20)
    assert filtered.count == 0  # a filtered list is counted exactly


@pytest.mark.parametrize(
    ("model", "term", "index"),
    [
        (User, "needle", "accounts_user_email_trgm"),
        (User, "needle", "accounts_user_first_name_trgm"),
        (User, "needle", "accounts_user_last_name_trgm"),
        (Listing, "needle", "listings_listing_title_trgm"),
    ],
)
def test_admin_searches_use_the_trigram_indexes(model, term, index, rf):
    """The plan of the admin's own search query, with sequential scans off (the test table is
    tiny, where a scan is cheaper), names the trigram index: the expression matches."""
    model_admin = admin.site._registry[model]
    request = rf.get("/", {"q": term})
    queryset, _ = model_admin.get_search_results(request, model.objects.all(), term)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan
