"""Analytics benchmark: what ``track`` costs a listing page, and how fast the flush writes.

    .venv/bin/python bench/track_bench.py [--requests 600] [--events 100000] [--recreate]

Works on its own database on the development server (``marketplace_bench_track`` unless
``--database`` names another; the development database is refused) and its own Redis key
prefix (``bench-track``), so the development buffer is never touched. Times:

- the listing page (``listings.views.detail.listing_detail``, through Django's test client in
  this process: middleware, view, template, the Redis view counter), ``--requests`` times
  with ``track`` and as many without (``track`` replaced by a no-op), interleaved in rounds of
  20 so drift hits both alike: p50 and p95 of each, and the difference;
- ``track``'s own time inside those pages, and ``track`` alone on a request (p50, p95 in µs);
- ``flush_events`` over ``--events`` buffered events at each ``--batch`` size: events/s
  (Redis to PostgreSQL: Lua move, COPY into a temporary table, INSERT ... ON CONFLICT).

See bench/README.md ("Analytics events").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
os.environ.setdefault("DEBUG", "true")
os.environ["CACHE_KEY_PREFIX"] = "bench-track"  # never the development buffer

from benchdb import percentile, use_bench_database  # noqa: E402 (bench/ is the script's directory)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="marketplace_bench_track")
    parser.add_argument("--recreate", action="store_true")
    parser.add_argument(
        "--requests", type=int, default=600, help="listing pages with track, and as many without"
    )
    parser.add_argument("--events", type=int, default=100_000, help="events buffered per flush run")
    parser.add_argument("--batch", type=int, nargs="+", default=[1000, 5000, 20000])
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.core.serializers.json import DjangoJSONEncoder
    from django.db import connection
    from django.test import Client, RequestFactory
    from django.utils import timezone

    use_bench_database(args.database, recreate=args.recreate)
    call_command("migrate", verbosity=0)

    from accounts.models import User
    from analytics import tracking
    from analytics.tracking import EventName, flush_events, track
    from listings.models import Category, Listing
    from listings.views import detail

    cache.delete_pattern("*")  # this prefix only
    seller, _ = User.objects.get_or_create(
        email="bench-track-seller@example.com", defaults={"first_name": "Bench", "is_seller": True}
    )
    viewer, _ = User.objects.get_or_create(
        email="bench-track-viewer@example.com", defaults={"first_name": "View"}
    )
    category, _ = Category.objects.get_or_create(slug="bench-track", defaults={"name": "Bench track"})
    listing, _ = Listing.objects.get_or_create(
        slug="bench-track-listing",
        defaults={
            "seller": seller,
            "category": category,
            "title": "A bench listing",
            "description": "Timed by bench/track_bench.py.",
            "price_cents": 10_000,
            "currency": "USD",
            "status": Listing.Status.ACTIVE,
            "visibility": "public",
            "published_at": timezone.now(),
        },
    )
    url = listing.get_absolute_url()

    client = Client(HTTP_HOST="127.0.0.1", HTTP_USER_AGENT="bench/track", REMOTE_ADDR="203.0.113.9")
    client.force_login(viewer)
    real_track = detail.track
    in_page = []  # track's own time inside the pages, µs

    def timed_track(*args, **kwargs):
        started = time.perf_counter()
        real_track(*args, **kwargs)
        in_page.append((time.perf_counter() - started) * 1_000_000)

    def noop(*_args, **_kwargs):
        return None

    def page() -> float:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            sys.exit(f"the listing page answered {response.status_code}")
        return elapsed * 1000

    for _ in range(30):  # warm-up: templates, the cached fragment, connections
        page()
    with_track, without_track = [], []
    rounds = max(1, args.requests // 20)
    for _ in range(rounds):
        detail.track = timed_track
        with_track += [page() for _ in range(20)]
        detail.track = noop
        without_track += [page() for _ in range(20)]
    detail.track = real_track
    buffered_by_pages = tracking.buffered_count()

    request = RequestFactory().get(url, HTTP_USER_AGENT="bench/track", REMOTE_ADDR="203.0.113.9")
    request.user = viewer
    alone = []
    for _ in range(max(args.requests, 1000)):
        started = time.perf_counter()
        track(request, EventName.LISTING_VIEWED, listing=str(listing.pk), category=category.slug)
        alone.append((time.perf_counter() - started) * 1_000_000)

    print(f"Listing page, {len(with_track)} requests each (in-process test client, ms):")
    print(f"  {'':16} {'p50':>8} {'p95':>8} {'mean':>8}")
    for name, values in (("with track", with_track), ("without track", without_track)):
        print(
            f"  {name:16} {percentile(values, 0.5):8.2f} {percentile(values, 0.95):8.2f} "
            f"{statistics.fmean(values):8.2f}"
        )
    print(
        f"  overhead: p50 {percentile(with_track, 0.5) - percentile(without_track, 0.5):+.2f} ms, "
        f"p95 {percentile(with_track, 0.95) - percentile(without_track, 0.95):+.2f} ms"
    )
    print(
        f"  track's own time inside those pages: p50 {percentile(in_page, 0.5):.0f} µs, "
        f"p95 {percentile(in_page, 0.95):.0f} µs"
    )
    print(f"  events buffered by the pages: {buffered_by_pages}")
    print(
        f"track() alone, {len(alone)} calls: "
        f"p50 {percentile(alone, 0.5):.0f} µs, p95 {percentile(alone, 0.95):.0f} µs"
    )

    # Flush rate. The events are built as track builds them (a request each) and pushed in
    # chunks (track's own cost is measured above), then flushed at each batch size.
    redis = tracking._redis()
    for batch in args.batch:
        flush_events()  # empty the buffer first (the page events above)
        for start in range(0, args.events, 1000):
            lines = [
                json.dumps(
                    tracking.build_event(
                        request,
                        EventName.SEARCH,
                        {"query": f"query {number % 500}", "filters": {"sort": "newest"}, "result_count": 0},
                    ),
                    cls=DjangoJSONEncoder,
                )
                for number in range(start, min(start + 1000, args.events))
            ]
            redis.rpush(cache.make_key(tracking.BUFFER_KEY), *lines)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM analytics_event")
            before = cursor.fetchone()[0]
        started = time.perf_counter()
        result = flush_events(batch_size=batch)
        elapsed = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM analytics_event")
            after = cursor.fetchone()[0]
        if not after - before == result.inserted == args.events:
            sys.exit(f"flush wrote {after - before} rows for {args.events} events: {result}")
        print(
            f"flush, batch {batch:>6}: {result.inserted} events in {elapsed:.2f} s "
            f"= {result.inserted / elapsed:,.0f} events/s ({result.batches} batches)"
        )
    print("Done. Drop the database when finished: DROP DATABASE", args.database)


if __name__ == "__main__":
    main()
