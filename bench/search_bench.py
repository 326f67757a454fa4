"""Search benchmark: the query mix of ``listings.search`` against a database of N listings.

    .venv/bin/python bench/search_bench.py --listings 100000 [--iterations 60] [--recreate]

Works on its own database on the development server (``marketplace_bench_<N>`` unless
``--database`` names another): creates it, migrates it, loads it with ``seed_demo``'s loader
when it is empty, and VACUUM ANALYZEs it. Then runs each kind of search (keyword, keyword +
category, attribute range, price range, radius, everything combined), each also with inputs
that find nothing ("<kind>: none"), through ``SearchForm`` and ``run_search`` as the view
does, with the counts/facets cache off (``SEARCH_FACETS_TTL=0``; ``--facet-cache`` keeps
it on), and prints p50/p95 of:

- sql: every query of the search, timed around ``cursor.execute`` (connection.execute_wrapper);
  with ``--engine tantivy`` (the project's own search engine on, ``listings.search.engine``,
  its index built once from the bench database by ``search_reindex`` and reused while the
  searchable count is unchanged) the column is "queries": SQL plus the time inside the engine;
- page: the page query (the one selecting the result cards; two on the page where best match
  runs out of ranked candidates);
- full: building and validating the form plus ``run_search``;
- the same inputs through the naive draft and through tantivy (``bench/search_engines.py``),
  as ratios project/naive and project/tantivy at p50 and p95;
- exact: the share of searches with an exact count; overlap@24: for best-match searches, the
  share of the exhaustive ranking's top 24 (every match ranked) on the page;

then EXPLAIN (ANALYZE, BUFFERS) of the slowest query seen. See bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
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
# Inputs that find nothing, per kind: the slowest case of an index that filters after it
# reads (every candidate is read and thrown away).
ZERO_KEYWORDS = ["desk toyota", "walnut iphone", "brompton espresso", "qwzx", "sofa ducati"]
ZERO_CATEGORY_KEYWORDS = [("toyota", "furniture"), ("sofa", "phones"), ("iphone", "cars"), ("piano", "bikes")]
ZERO_ATTRIBUTES = [
    ("laptops", {"attr_ram_gb_min": "4096"}),
    ("cars", {"attr_year_min": "2090"}),
    ("motorcycles", {"attr_engine_cc_min": "90000"}),
    ("vehicles", {"attr_year_max": "1200"}),
    ("desks", {"attr_width_min": "900"}),
]
# Mid-ocean points: no listing within any radius the form allows below 1,000 km.
EMPTY_POINTS = [("0", "-150"), ("-40", "-30"), ("10", "-170"), ("-50", "80")]


def zero_query_for(kind: str, rng: random.Random) -> dict[str, str]:
    """GET parameters of one search of ``kind`` that finds nothing."""
    if kind == "keyword":
        return {"q": rng.choice(ZERO_KEYWORDS)}
    if kind == "keyword+category":
        q, category = rng.choice(ZERO_CATEGORY_KEYWORDS)
        return {"q": q, "category": category}
    if kind == "attribute range":
        category, bounds = rng.choice(ZERO_ATTRIBUTES)
        return {"category": category, **bounds}
    if kind == "price range":
        return {"min_price": str(rng.choice([5_000_000, 8_000_000])), "max_price": "9000000"}
    if kind == "radius":
        lat, lng = rng.choice(EMPTY_POINTS)
        return {"lat": lat, "lng": lng, "radius_km": str(rng.choice([25, 100, 500]))}
    # combined: a real keyword, category and place, with a bound nothing meets
    category, bounds = rng.choice(ZERO_ATTRIBUTES)
    words = {
        "laptops": "laptop",
        "cars": "toyota",
        "motorcycles": "honda",
        "vehicles": "manual",
        "desks": "desk",
    }
    return {
        "q": words[category],
        "category": category,
        **bounds,
        "near": rng.choice(CITY_SLUGS[:6]),
        "radius_km": "100",
    }


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
            cursor.execute(
                "VACUUM (ANALYZE) listings_listing, listings_favorite, accounts_user, listings_listing_number"
            )
        print(f"VACUUM ANALYZE in {time.monotonic() - started:.1f} s")


def run_benchmark(args) -> None:
    from django.conf import settings
    from django.db import connection
    from django.http import QueryDict
    from search_engines import TantivyIndex, naive_search

    from listings.search import SearchForm, run_search
    from listings.search.filters import filtered_listings
    from listings.search.keywords import keyword_query
    from listings.search.ranking import exhaustive
    from listings.selectors import public_listings

    settings.DEBUG = False  # no query log: time what production would run
    if not args.facet_cache:
        # The facet cache off (SEARCH_FACETS_TTL=0): every search counts, with no Redis round trip.
        settings.SEARCH_FACETS_TTL = 0
    rng = random.Random(args.seed)
    timings: dict[str, list[Sample]] = defaultdict(list)
    # Same inputs, other engines: (project full, other) seconds per kind.
    naive_pairs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    tantivy_pairs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    overlaps: dict[str, list[float]] = defaultdict(list)
    exact_counts: dict[str, list[bool]] = defaultdict(list)
    slowest = Slowest()
    slowest_per_kind: dict[str, Slowest] = defaultdict(Slowest)
    executed: list[tuple[str, tuple, float]] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            executed.append((sql, params, time.perf_counter() - started))

    def form_for(params: dict[str, str]):
        query = QueryDict(mutable=True)
        query.update(params)
        form = SearchForm(query)
        if not form.is_valid():
            raise SystemExit(f"Invalid search {params}: {form.errors.as_json()}")
        return form

    def search(params: dict[str, str]):
        query = QueryDict(mutable=True)
        query.update(params)
        executed.clear()
        engine_seconds.clear()
        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            form = SearchForm(query)
            if not form.is_valid():
                raise SystemExit(f"Invalid search {params}: {form.errors.as_json()}")
            result = run_search(form)
        return time.perf_counter() - started, result

    def timed_call(function, *call_args):
        started = time.perf_counter()
        value = function(*call_args)
        return time.perf_counter() - started, value

    engine_seconds: list[float] = []
    if args.engine:
        use_project_engine(args, executed, engine_seconds)

    engine = None
    if not args.no_tantivy:
        engine = TantivyIndex(BASE_DIR / ".data" / "bench" / f"tantivy-{args.database}")
        built = engine.open_or_build(public_listings().count())
        if built:
            print(f"tantivy index built in {built:.1f} s", file=sys.stderr)

    kinds = [*KINDS, *(f"{kind}: none" for kind in KINDS)]

    def inputs_for(kind: str) -> dict[str, str]:
        if kind.endswith(": none"):
            return zero_query_for(kind.removesuffix(": none"), rng)
        return query_for(kind, rng)

    for kind in kinds:  # warm up: caches, the category tree, the buffer pool
        for _ in range(args.warmup):
            search(inputs_for(kind))
    # What lives as long as the process, out of the collector's reach, as the server does
    # after loading (marketplace/asgi.py): a collection then walks only what a search made.
    gc.freeze()

    for iteration in range(args.iterations):
        for kind in kinds:
            params = inputs_for(kind)
            full, result = search(params)
            # Every query of the search: the listings' and the spelling lexicon's (asked when a
            # search with keywords fits on one page); the category tree's, on a version change.
            queries = list(executed)
            # The page query: the one that selects the cards (the counts and facets do not).
            page = sum(seconds for sql, _, seconds in queries if "primary_image_url" in sql)
            sql = sum(seconds for *_, seconds in queries) + sum(engine_seconds)
            timings[kind].append(Sample(sql=sql, page=page, full=full))
            exact_counts[kind].append(not result.total_capped)
            for sql, query_params, seconds in queries:
                for record in (slowest, slowest_per_kind[kind]):
                    if seconds > record.seconds:
                        record.seconds, record.kind, record.sql = seconds, kind, sql
                        # Named placeholders (the spelling lexicon's query) keep their mapping.
                        kept = query_params if isinstance(query_params, dict) else tuple(query_params or ())
                        record.params, record.query = kept, params
            form = form_for(params)
            data = form.cleaned_data
            if iteration % args.naive_every == 0:
                naive_pairs[kind].append((full, timed_call(naive_search, form)[0]))
            if engine is not None:
                tantivy_pairs[kind].append((full, timed_call(engine.search, form)[0]))
            if data["sort"] == "relevance" and not result.corrected_from:
                # Best match against ranking every match (untimed).
                reference = exhaustive(filtered_listings(data, form), keyword_query(data["q"]))
                expected = [str(pk) for pk in reference.values_list("id", flat=True)[:PAGE]]
                got = [str(listing.id) for listing in result.listings[:PAGE]]
                if expected:
                    overlaps[kind].append(len(set(expected) & set(got)) / len(expected))
        if (iteration + 1) % 10 == 0:
            print(f"  {iteration + 1}/{args.iterations} rounds", file=sys.stderr)

    active = public_listings().count()
    print()
    print(
        f"{args.database}: {active:,} searchable listings; {args.iterations} searches per kind "
        f"(+{args.warmup} warm-up); {os.cpu_count()} CPUs; load average "
        f"{' '.join(f'{value:.1f}' for value in os.getloadavg())} at the end"
    )
    if args.engine:
        print(f"Search engine: {args.engine} (queries = SQL + time inside the engine)")
    print(
        "Times in ms. sql = all queries of one search; page = the page query; full = form + "
        "run_search;\nnaive, tantivy: the same inputs through the naive draft and tantivy, as ratios "
        "project full / other (below 1: the project is faster) at p50 and p95 of the paired inputs."
    )
    header = (
        (
            "kind                queries p50  p95   "
            if args.engine
            else "kind                    sql p50  sql p95"
        )
        + " page p50 page p95 full p50 full p95 full/sql"
        "  /naive p50  p95  /tantivy p50   p95  exact  overlap@24"
    )
    print(header)
    print("-" * len(header))
    for kind in kinds:
        samples = timings[kind]
        sql_times = [sample.sql for sample in samples]
        page_times = [sample.page for sample in samples]
        full_times = [sample.full for sample in samples]
        ratio = statistics.median(sample.full / sample.sql for sample in samples if sample.sql)
        overlap = (
            f"{statistics.mean(overlaps[kind]):.2f} min {min(overlaps[kind]):.2f}" if overlaps[kind] else "-"
        )
        print(
            f"{kind:22s}"
            f"{milliseconds(percentile(sql_times, 0.5))} {milliseconds(percentile(sql_times, 0.95))}"
            f"{milliseconds(percentile(page_times, 0.5))} {milliseconds(percentile(page_times, 0.95))}"
            f"{milliseconds(percentile(full_times, 0.5))} {milliseconds(percentile(full_times, 0.95))}"
            f"{ratio:8.2f}x {ratios(naive_pairs[kind])} {ratios(tantivy_pairs[kind])}"
            f"  {sum(exact_counts[kind]) / len(exact_counts[kind]):4.0%}  {overlap}"
        )
    print('exact = share of searches whose count is exact (not "1,000+").')

    records = [slowest_per_kind[kind] for kind in kinds] if args.explain_each else [slowest]
    for record in records:
        if not record.sql:  # every search of the kind answered without a listings query (the engine)
            continue
        print()
        print(f"Slowest query ({record.kind}, {record.seconds * 1000:.1f} ms), search {record.query}:")
        print(record.sql % _shown(record.params) if args.show_sql else record.sql[:400] + " ...")
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {record.sql}", record.params)
            for (line,) in cursor.fetchall():
                print(f"  {line}")


def _shown(params):
    """The parameters as ``%`` fills the query's placeholders, each as its repr."""
    if isinstance(params, dict):
        return {key: repr(value) for key, value in params.items()}
    return tuple(repr(value) for value in params)


PAGE = 24


def use_project_engine(args, executed: list, engine_seconds: list[float]) -> None:
    """Turn the project's search engine on over an index of the bench database (built by
    ``search_reindex`` when missing or when the searchable count changed), and time every
    engine call: ``engine_seconds`` gets each call's time minus the SQL it ran (the cards
    query, already in ``executed``)."""
    import json

    from django.conf import settings

    from listings.search import engine
    from listings.search.sync import search_reindex
    from listings.selectors import public_listings

    settings.SEARCH_ENGINE = args.engine
    settings.SEARCH_ENGINE_PATH = str(BASE_DIR / ".data" / "bench" / f"engine-{args.database}")
    marker = Path(f"{settings.SEARCH_ENGINE_PATH}.bench.json")
    expected = public_listings().count()
    if not (marker.exists() and json.loads(marker.read_text()).get("documents") == expected):
        started = time.monotonic()
        result = search_reindex(progress=None)
        marker.write_text(json.dumps({"documents": result.documents}))
        print(f"engine index built in {time.monotonic() - started:.1f} s", file=sys.stderr)
    engine.reset_reader()
    real_search = engine.search

    def timed_search(form, data=None, **options):
        before = len(executed)
        started = time.perf_counter()
        try:
            return real_search(form, data, **options)
        finally:
            inside_sql = sum(seconds for *_, seconds in executed[before:])
            engine_seconds.append(time.perf_counter() - started - inside_sql)

    engine.search = timed_search


def ratios(pairs: list[tuple[float, float]]) -> str:
    """project/other at p50 and p95 of paired samples (each side's own percentile)."""
    if not pairs:
        return f"{'-':>11s} {'-':>5s}"
    ours = [project for project, _ in pairs]
    theirs = [other for _, other in pairs]
    p50 = percentile(ours, 0.5) / percentile(theirs, 0.5)
    p95 = percentile(ours, 0.95) / percentile(theirs, 0.95)
    return f"{p50:11.2f} {p95:5.2f}"


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
    parser.add_argument(
        "--naive-every", type=int, default=1, help="Run the naive draft every Nth round (slow at 1M)."
    )
    parser.add_argument("--no-tantivy", action="store_true", help="Leave tantivy out.")
    parser.add_argument(
        "--engine",
        choices=["tantivy"],
        help="Run the project's search with its search engine on (SEARCH_ENGINE); 'sql' becomes "
        "'queries': SQL plus engine time.",
    )
    parser.add_argument(
        "--facet-cache",
        action="store_true",
        help="Keep the one-minute counts/facets cache (default: off, SEARCH_FACETS_TTL=0).",
    )
    args = parser.parse_args()
    args.database = args.database or f"marketplace_bench_{args.listings}"

    prepare_database(args)
    fill_database(args)
    run_benchmark(args)


if __name__ == "__main__":
    main()
