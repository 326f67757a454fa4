"""Admin at scale: changelist and search times of the big admin pages on the bench database.

    .venv/bin/python bench/admin_bench.py [--database marketplace_bench_1000000] [--iterations 15]

Reuses a bench database that ``bench/search_bench.py`` (``seed_demo``'s loader) filled with
users and listings (default ``marketplace_bench_1000000``; it is migrated first, never
loaded here). Each admin page is rendered through the real ``ModelAdmin.changelist_view``
(RequestFactory, an unsaved superuser, no HTTP), warm-up once, then timed ``--iterations``
times; it prints p50/p95 of the whole view and of its SQL (every query timed around
``cursor.execute``), the number of queries, and the plan's top line for each search (which
index serves it). See bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
os.environ.setdefault("DEBUG", "true")


def setup(database: str) -> None:
    import django
    from django.conf import settings

    settings.CACHES["default"]["KEY_PREFIX"] = f"bench-{database}"
    django.setup()
    from benchdb import use_bench_database

    use_bench_database(database, recreate=False)


def request_for(path: str, params: dict):
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    from django.test import RequestFactory

    from accounts.models import User

    request = RequestFactory().get(path, params)
    request.user = User(email="bench@example.com", is_staff=True, is_superuser=True, is_active=True)
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def time_view(model, params: dict, iterations: int) -> dict:
    from django.contrib import admin
    from django.db import connection

    model_admin = admin.site._registry[model]
    sql_times: list[float] = []

    def timer(execute, sql, params_, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params_, many, context)
        finally:
            sql_times.append(time.perf_counter() - started)

    views, sqls, queries = [], [], 0
    for round_ in range(iterations + 1):
        sql_times.clear()
        request = request_for(f"/admin/{model._meta.app_label}/{model._meta.model_name}/", params)
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            response = model_admin.changelist_view(request)
            response.render()
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            sys.exit(f"{model._meta.label}: HTTP {response.status_code}")
        if round_:  # the first is the warm-up
            views.append(elapsed)
            sqls.append(sum(sql_times))
            queries = len(sql_times)
    rows = len(response.context_data["cl"].result_list)
    return {"view": views, "sql": sqls, "queries": queries, "rows": rows}


def plan_top(model, term: str) -> str:
    from django.contrib import admin
    from django.db import connection

    model_admin = admin.site._registry[model]
    queryset, _ = model_admin.get_search_results(request_for("/", {"q": term}), model.objects.all(), term)
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        lines = [row[0] for row in cursor.fetchall()]
    used = [line.strip() for line in lines if "Index" in line and " on " in line]
    return used[0] if used else lines[0].strip()


def ms(values: list[float], fraction: float) -> str:
    from benchdb import percentile

    return f"{percentile(values, fraction) * 1000:8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="marketplace_bench_1000000")
    parser.add_argument("--iterations", type=int, default=15)
    args = parser.parse_args()
    setup(args.database)

    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from accounts.models import User
    from analytics.models import Event
    from listings.models import Listing
    from marketplace.models import AuditEntry
    from messaging.models import Message
    from moderation.models import Report
    from payments.models import LedgerEntry

    users, listings = User.objects.count(), Listing.objects.count()
    print(f"{args.database}: {users:,} users, {listings:,} listings; {args.iterations} timed runs each (ms)")
    sample_user = User.objects.order_by("pk").first()
    sample_listing = Listing.objects.order_by("pk").first()
    email_part = sample_user.email.split("@")[0][-6:] if sample_user else "needle"
    title_word = (sample_listing.title.split() or ["needle"])[0] if sample_listing else "needle"
    last_name = (sample_user.last_name or "Smith") if sample_user else "Smith"
    pages = [
        ("users: changelist", User, {}),
        (f"users: search email {email_part!r}", User, {"q": email_part}),
        (f"users: search name {last_name!r}", User, {"q": last_name}),
        ("users: search nothing 'zzqqxx'", User, {"q": "zzqqxx"}),
        ("listings: changelist", Listing, {}),
        (f"listings: search title {title_word!r}", Listing, {"q": title_word}),
        ("listings: search nothing 'zzqqxx'", Listing, {"q": "zzqqxx"}),
        ("listings: filter status=archived", Listing, {"status__exact": "archived"}),
        ("events: changelist", Event, {}),
        ("ledger: changelist", LedgerEntry, {}),
        ("messages: changelist", Message, {}),
        ("audit log: changelist", AuditEntry, {}),
        ("reports: changelist", Report, {}),
    ]
    print(f"{'page':48} {'view p50':>9} {'p95':>8} {'sql p50':>9} {'p95':>8} {'queries':>8} {'rows':>5}")
    for name, model, params in pages:
        found = time_view(model, params, args.iterations)
        print(
            f"{name:48} {ms(found['view'], 0.5)} {ms(found['view'], 0.95)} "
            f"{ms(found['sql'], 0.5)} {ms(found['sql'], 0.95)} {found['queries']:8} {found['rows']:5}"
        )
    print("\nPlans of the searches (first index used):")
    for model, term in ((User, email_part), (User, last_name), (Listing, title_word)):
        print(f"  {model._meta.label} {term!r}: {plan_top(model, term)}")


if __name__ == "__main__":
    main()
