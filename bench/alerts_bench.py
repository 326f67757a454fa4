"""Saved-search matching at scale: N saved searches against M newly published listings.

    make services
    .venv/bin/python bench/alerts_bench.py                      # 100,000 searches, 10,000 new listings
    .venv/bin/python bench/alerts_bench.py --saved 20000 --new 2000 --listings 20000

It works in its own database (``marketplace_bench_alerts_<listings>``): migrated, loaded with
``seed_demo``'s loader, then ``--new`` of its active listings are given a publication time in the
last hour (the rest are older) and ``--saved`` saved searches are written for the demo users,
drawn from the catalogue's words, categories, cities and number attributes:

- 45% keywords in a category, 15% keywords alone, 20% a category and a price range,
  10% a category and a number-attribute range (checked by the search itself afterwards),
  5% near a city (some with keywords), 5% negotiable listings of a category.

Then ``alerts.services.match_new_listings`` runs once, timed, with its queries counted; the
figures go to ``bench/README.md`` ("Saved-search alerts"). Budget: under 2 minutes.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
os.environ.setdefault("DEBUG", "true")

from benchdb import use_bench_database  # noqa: E402 (bench/ is the script's directory)
from search_bench import KEYWORDS  # noqa: E402


def prepare(args) -> None:
    import django
    from django.conf import settings

    settings.CACHES["default"]["KEY_PREFIX"] = f"bench-{args.database}"
    django.setup()
    use_bench_database(args.database, recreate=args.recreate)


def fill(args) -> None:
    from django.core.management import call_command
    from django.db import connection

    from alerts.models import SavedSearch
    from listings.demo import seed_demo
    from listings.models import Listing

    call_command("migrate", verbosity=0)
    if not Listing.objects.exists():
        print(f"Loading {args.listings:,} listings with seed_demo's loader")
        report = seed_demo(listings=args.listings, seed=args.seed, images=False, progress=True)
        print(f"Loaded in {report.seconds:.1f} s")
    with connection.cursor() as cursor:
        # The --new newest-to-be: published in the last hour; everything else two days ago.
        cursor.execute(
            "UPDATE listings_listing SET published_at = now() - interval '2 days' "
            "WHERE published_at IS NOT NULL"
        )
        cursor.execute(
            """UPDATE listings_listing SET published_at = now() - random() * interval '50 minutes'
               WHERE id IN (SELECT id FROM listings_listing WHERE status = 'active' AND visibility = 'public'
                            ORDER BY md5(id::text) LIMIT %s)""",
            [args.new],
        )
    if SavedSearch.objects.count() != args.saved:
        SavedSearch.objects.all().delete()
        write_saved_searches(args)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM alerts_savedsearchmatch")
        cursor.execute("DELETE FROM alerts_watermark")
        cursor.execute("VACUUM (ANALYZE) listings_listing, alerts_savedsearch, alerts_savedsearchmatch")


def _params(rng: random.Random, tree, cities) -> dict:
    nodes = list(tree.by_slug.values())
    numbered = [
        (node, attribute)
        for node in nodes
        for attribute in node.attribute_schema
        if attribute.get("type") == "number"
    ]
    roll = rng.random()
    node = rng.choice(nodes)
    word = rng.choice(KEYWORDS)
    if roll < 0.45:
        return {"q": word, "category": node.slug}
    if roll < 0.60:
        return {"q": word}
    if roll < 0.80:
        low = rng.choice([0, 10, 50, 100, 200])
        return {
            "category": node.slug,
            "min_price": str(low),
            "max_price": str(low + rng.choice([50, 200, 1000])),
        }
    if roll < 0.90 and numbered:
        node, attribute = rng.choice(numbered)
        return {"category": node.slug, f"attr_{attribute['key']}_min": str(rng.choice([1, 2, 4, 8, 16]))}
    if roll < 0.95:
        params = {"near": rng.choice(cities).slug, "radius_km": str(rng.choice([10, 25, 50, 100]))}
        if rng.random() < 0.5:
            params["q"] = word
        return params
    return {"category": node.slug, "pricing_type": "negotiable"}


def write_saved_searches(args) -> None:
    from django.http import QueryDict

    from accounts.models import User
    from alerts.models import SavedSearch
    from alerts.services import _default_name, _filter_columns, canonical_query
    from listings.categories import category_tree
    from listings.cities import CITIES
    from listings.search import SearchForm
    from listings.search.keywords import keyword_query

    rng = random.Random(args.seed)
    tree = category_tree()
    users = list(User.objects.order_by("id").values_list("id", flat=True)[: max(1, args.saved // 5)])
    started = time.monotonic()
    rows, seen, canon, forms = [], set(), {}, {}
    while len(rows) < args.saved:
        params = _params(rng, tree, CITIES)
        user_id = rng.choice(users)
        key = tuple(sorted(params.items()))
        if key not in canon:
            canon[key] = canonical_query(params)
        query, query_string = canon[key]
        if (user_id, query_string) in seen:
            continue
        seen.add((user_id, query_string))
        if query_string not in forms:
            form = SearchForm(QueryDict(query_string))
            forms[query_string] = (_filter_columns(form), _default_name(form)) if form.is_valid() else None
        if forms[query_string] is None:
            continue
        columns, name = forms[query_string]
        rows.append(
            SavedSearch(user_id=user_id, name=name, query=query, query_string=query_string, **columns)
        )
    SavedSearch.objects.bulk_create(rows, batch_size=5000)
    # The keywords tsquery, built by the search's own keyword_query, once per distinct text.
    for text in sorted({row.query.get("q") for row in rows if row.query.get("q")}):
        SavedSearch.objects.filter(query__q=text).update(keywords=keyword_query(text))
    print(
        f"Wrote {len(rows):,} saved searches ({len(forms):,} distinct) in {time.monotonic() - started:.1f} s"
    )


def run(args) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alerts.models import SavedSearch, SavedSearchMatch
    from alerts.services import match_new_listings

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM listings_listing WHERE published_at > now() - interval '1 hour'")
        new = cursor.fetchone()[0]
        cursor.execute(
            "SELECT 100 * count(*) FILTER (WHERE attribute_filters <> '[]'::jsonb) / count(*) "
            "FROM alerts_savedsearch"
        )
        with_attributes = cursor.fetchone()[0]
    print(
        f"{SavedSearch.objects.count():,} saved searches ({with_attributes}% with attribute filters), "
        f"{new:,} new listings"
    )
    load = os.getloadavg()
    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        result = match_new_listings()
    seconds = time.monotonic() - started
    matched_searches = SavedSearchMatch.objects.values("saved_search").distinct().count()
    print(
        f"match_new_listings: {seconds:.1f} s, {len(queries)} queries, {result.listings:,} listings read, "
        f"{result.matches:,} matches for {matched_searches:,} saved searches; load average before "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    slowest = sorted(queries.captured_queries, key=lambda q: float(q["time"]), reverse=True)[:3]
    for query in slowest:
        print(f"  {float(query['time']):7.2f} s  {' '.join(query['sql'].split())[:160]}")
    print("Budget: under 120 s —", "met" if seconds < 120 else "MISSED")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--saved", type=int, default=100_000, help="Saved searches.")
    parser.add_argument("--new", type=int, default=10_000, help="Listings published since the last run.")
    parser.add_argument("--listings", type=int, default=60_000, help="Demo listings in the database.")
    parser.add_argument("--database", help="Bench database (default marketplace_bench_alerts_<listings>).")
    parser.add_argument("--recreate", action="store_true", help="Drop and reload the database.")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    args.database = args.database or f"marketplace_bench_alerts_{args.listings}"
    prepare(args)
    fill(args)
    run(args)


if __name__ == "__main__":
    main()
