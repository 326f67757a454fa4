"""Search benchmark: the query mix of ``listings.search`` against a database of N listings.

    .venv/bin/python bench/search_bench.py --listings 100000 [--iterations 60] [--recreate]

Works on its own database on the development server (``marketplace_bench_<N>`` unless
``--database`` names another): creates it, migrates it, loads it with ``seed_demo``'s loader
when it is empty, and VACUUM ANALYZEs it. Then runs each kind of search (keyword, keyword +
category, attribute range, price range, radius, everything combined) with varied inputs,
through ``SearchForm`` and ``run_search`` as the view does, and prints p50/p95 of:

- sql: every query of the search, timed around ``cursor.execute`` (connection.execute_wrapper);
- page: the page query alone (the first one);
- full: building and validating the form plus ``run_search``;

then EXPLAIN (ANALYZE, BUFFERS) of the slowest query seen. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
# Development mode (the development servers, no SECRET_KEY needed) unless the caller set DEBUG.
os.environ.setdefault("DEBUG", "true")

from benchdb import percentile, use_bench_database  # noqa: E402 (bench/ is the script's directory)

KEYWORDS = [
    "desk",
    "oak desk",
    "standing desk",
    "walnut",
    "leather sofa",
    "velvet",
    "dining table",
    "office chair",
    "iphone",
    "iphone 15",
    "macbook pro",
    "pixel",
    "galaxy",
    "canon",
    "gopro",
    "turntable",
    "headphones",
    "playstation",
    "toyota",
    "tesla model",
    "golf",
    "mountain bike",
    "brompton",
    "ducati",
    "logo design",
    "math tutoring",
    "piano",
    "phone screen repair",
    "wedding photography",
    "lawn mower",
    "espresso machine",
    "floor lamp",
    "vintage",
    "mid-century",
    "mac",  # a prefix: the last word also matches as one
    "sof",
    "bik",
]
CATEGORY_KEYWORDS = [
    ("desk", "furniture"),
    ("oak", "tables"),
    ("standing", "desks"),
    ("chair", "chairs"),
    ("grey", "sofas"),
    ("iphone", "phones"),
    ("apple", "electronics"),
    ("thinkpad", "laptops"),
    ("mirrorless", "cameras"),
    ("automatic", "cars"),
    ("bmw", "vehicles"),
    ("road", "bikes"),
    ("logo", "design"),
    ("spanish", "tutoring"),
    ("laptop", "repairs"),
    ("bosch", "garden"),
    ("brass", "lighting"),
    ("kitchenaid", "kitchen"),
    ("lamp", "home-garden"),
    ("online", "services"),
]
# (category, attribute, lowest, highest, step): a number range inside the category.
ATTRIBUTE_RANGES = [
    ("desks", "width", 36, 72, 2),
    ("tables", "seats", 2, 10, 2),
    ("sofas", "seats", 2, 6, 1),
    ("furniture", "height", 16, 84, 2),
    ("phones", "storage_gb", 64, 1024, 64),
    ("laptops", "ram_gb", 8, 64, 8),
    ("cameras", "megapixels", 12, 61, 1),
    ("cars", "year", 2006, 2024, 1),
    ("cars", "mileage", 0, 300_000, 10_000),
    ("motorcycles", "engine_cc", 125, 1300, 25),
    ("bikes", "frame_size", 44, 61, 1),
    ("vehicles", "year", 2006, 2024, 1),
    ("design", "delivery_days", 2, 21, 1),
]
CITY_SLUGS = ["new-york", "los-angeles", "chicago", "london", "paris", "berlin", "toronto", "austin", "tokyo"]
KINDS = ["keyword", "keyword+category", "attribute range", "price range", "radius", "combined"]


def query_for(kind: str, rng: random.Random) -> dict[str, str]:
    """GET parameters of one search of ``kind``, drawn at random."""
    if kind == "keyword":
        return {"q": rng.choice(KEYWORDS)}
    if kind == "keyword+category":
        q, category = rng.choice(CATEGORY_KEYWORDS)
        return {"q": q, "category": category}
    if kind == "attribute range":
        return {"category": (pick := rng.choice(ATTRIBUTE_RANGES))[0], **_number_range(pick, rng)}
    if kind == "price range":
        low = rng.choice([0, 20, 50, 100, 250, 500, 1000])
        params = {"min_price": str(low), "max_price": str(low * rng.choice([2, 4, 10]) + 100)}
        if rng.random() < 0.3:
            params["currency"] = "EUR"
        if rng.random() < 0.5:
            params["sort"] = rng.choice(["price_asc", "price_desc"])
        return params
    if kind == "radius":
        params = {"near": rng.choice(CITY_SLUGS), "radius_km": str(rng.choice([10, 25, 50, 100]))}
        if rng.random() < 0.5:
            params["sort"] = "distance"
        return params
    # combined: keyword, category, attribute range, price and place at once
    pick = rng.choice(ATTRIBUTE_RANGES)
    words = {
        "desks": "desk",
        "tables": "table",
        "sofas": "sofa",
        "furniture": "oak",
        "phones": "apple",
        "laptops": "laptop",
        "cameras": "canon",
        "cars": "toyota",
        "motorcycles": "honda",
        "bikes": "bike",
        "vehicles": "manual",
        "design": "logo",
    }
    return {
        "q": words[pick[0]],
        "category": pick[0],
        **_number_range(pick, rng),
        "max_price": str(rng.choice([200, 500, 1000, 5000, 20000])),
        "near": rng.choice(CITY_SLUGS[:6]),
        "radius_km": str(rng.choice([50, 100, 250])),
    }


def _number_range(pick: tuple, rng: random.Random) -> dict[str, str]:
    _, key, lowest, highest, step = pick
    steps = int((highest - lowest) / step)
    low = lowest + rng.randrange(steps // 2 + 1) * step
    high = low + (1 + rng.randrange(steps // 2 + 1)) * step
    bounds = rng.choice([("min",), ("max",), ("min", "max")])
    params = {}
    if "min" in bounds:
        params[f"attr_{key}_min"] = str(low)
    if "max" in bounds:
        params[f"attr_{key}_max"] = str(high)
    return params


@dataclass
class Sample:
    sql: float
    page: float
    full: float


@dataclass
class Slowest:
    seconds: float = 0.0
    kind: str = ""
    sql: str = ""
    params: tuple = ()
    query: dict = field(default_factory=dict)


def milliseconds(value: float) -> str:
    return f"{value * 1000:8.1f}"


def prepare_database(args) -> None:
    """Point Django at the bench database, creating (or re-creating) it first."""
    import django
    from django.conf import settings

    # The category tree is cached in Redis: keep the bench's tree apart from development's.
    settings.CACHES["default"]["KEY_PREFIX"] = f"bench-{args.database}"
    django.setup()
    use_bench_database(args.database, recreate=args.recreate)


def fill_database(args) -> None:
    from django.core.management import call_command
    from django.db import connection

    from listings.demo import seed_demo
    from listings.models import Listing

    call_command("migrate", verbosity=0)
    count = Listing.objects.count()
    if count and count != args.listings:
        sys.exit(
            f"{args.database} holds {count:,} listings, not {args.listings:,}: pass --recreate "
            "to load it again, or --database to use another."
        )
    if not count:
        print(f"Loading {args.listings:,} listings with seed_demo's loader (seed {args.seed})")
        report = seed_demo(listings=args.listings, seed=args.seed, images=False, progress=True)
        print(
            f"Loaded in {report.seconds:.1f} s: {report.users:,} users, {report.listings:,} listings, "
            f"{report.favorites:,} favorites"
        )
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) listings_listing, listings_favorite, accounts_user")
        print(f"VACUUM ANALYZE in {time.monotonic() - started:.1f} s")


def run_benchmark(args) -> None:
    from django.conf import settings
    from django.db import connection
    from django.http import QueryDict

    from listings.search import SearchForm, run_search
    from listings.selectors import public_listings

    settings.DEBUG = False  # no query log: time what production would run
    rng = random.Random(args.seed)
    timings: dict[str, list[Sample]] = defaultdict(list)
    slowest = Slowest()
    slowest_per_kind: dict[str, Slowest] = defaultdict(Slowest)
    executed: list[tuple[str, tuple, float]] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            executed.append((sql, params, time.perf_counter() - started))

    def search(params: dict[str, str]):
        query = QueryDict(mutable=True)
        query.update(params)
        executed.clear()
        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            form = SearchForm(query)
            if not form.is_valid():
                raise SystemExit(f"Invalid search {params}: {form.errors.as_json()}")
            result = run_search(form)
        return time.perf_counter() - started, result

    for kind in KINDS:  # warm up: caches, the category tree, the buffer pool
        for _ in range(args.warmup):
            search(query_for(kind, rng))

    for iteration in range(args.iterations):
        for kind in KINDS:
            params = query_for(kind, rng)
            full, _ = search(params)
            queries = [entry for entry in executed if "listings_listing" in entry[0]]
            timings[kind].append(
                Sample(sql=sum(seconds for *_, seconds in queries), page=queries[0][2], full=full)
            )
            for sql, query_params, seconds in queries:
                for record in (slowest, slowest_per_kind[kind]):
                    if seconds > record.seconds:
                        record.seconds, record.kind, record.sql = seconds, kind, sql
                        record.params, record.query = tuple(query_params or ()), params
        if (iteration + 1) % 10 == 0:
            print(f"  {iteration + 1}/{args.iterations} rounds", file=sys.stderr)

    active = public_listings().count()
    print()
    print(
        f"{args.database}: {active:,} searchable listings; {args.iterations} searches per kind "
        f"(+{args.warmup} warm-up); {os.cpu_count()} CPUs"
    )
    print("Times in ms. sql = all queries of one search; page = the page query; full = form + run_search.")
    header = "kind                 sql p50  sql p95  page p50 page p95 full p50 full p95  full/sql p50"
    print(header)
    print("-" * len(header))
    for kind in KINDS:
        samples = timings[kind]
        sql_times = [s.sql for s in samples]
        page_times = [s.page for s in samples]
        full_times = [s.full for s in samples]
        ratio = statistics.median(s.full / s.sql for s in samples)
        print(
            f"{kind:18s}"
            f"{milliseconds(percentile(sql_times, 0.5))} {milliseconds(percentile(sql_times, 0.95))} "
            f"{milliseconds(percentile(page_times, 0.5))} {milliseconds(percentile(page_times, 0.95))}"
            f"{milliseconds(percentile(full_times, 0.5))} {milliseconds(percentile(full_times, 0.95))}"
            f"{ratio:10.2f}x"
        )

    records = [slowest_per_kind[kind] for kind in KINDS] if args.explain_each else [slowest]
    for record in records:
        print()
        print(f"Slowest query ({record.kind}, {record.seconds * 1000:.1f} ms), search {record.query}:")
        print(
            record.sql % tuple(repr(p) for p in record.params) if args.show_sql else record.sql[:400] + " ..."
        )
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {record.sql}", record.params)
            for (line,) in cursor.fetchall():
                print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=100_000, help="Listings in the bench database.")
    parser.add_argument("--iterations", type=int, default=60, help="Searches per kind (default 60).")
    parser.add_argument("--warmup", type=int, default=5, help="Untimed searches per kind first.")
    parser.add_argument("--seed", type=int, default=42, help="Seed of the data and of the inputs.")
    parser.add_argument("--database", help="Bench database name (default marketplace_bench_<listings>).")
    parser.add_argument("--recreate", action="store_true", help="Drop the bench database and load it again.")
    parser.add_argument(
        "--explain-each", action="store_true", help="EXPLAIN the slowest query of every kind."
    )
    parser.add_argument(
        "--show-sql", action="store_true", help="Print the slowest queries whole, with values."
    )
    args = parser.parse_args()
    args.database = args.database or f"marketplace_bench_{args.listings}"

    prepare_database(args)
    fill_database(args)
    run_benchmark(args)


if __name__ == "__main__":
    main()
