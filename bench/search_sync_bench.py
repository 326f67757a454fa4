"""Search engine sync benchmark: reindex time, outbox trigger cost, apply throughput.

    .venv/bin/python bench/search_sync_bench.py --listings 20000 [--changes 2000] [--rounds 3]

Works on its own database on the development server (``marketplace_bench_<N>`` unless
``--database`` names another; created, migrated and loaded with ``seed_demo``'s loader when
empty, as ``search_bench.py`` does) and its own index directory (``--index``, default
``.data/bench-search-index-<N>``). Measures:

- reindex: ``search_reindex()`` from scratch (documents, seconds, documents/s);
- trigger: an UPDATE of ``--changes`` listings' titles (one outbox row each) against the same
  UPDATE with the outbox trigger disabled (rolled back): the outbox's cost per row;
- apply: ``--rounds`` times, ``--changes`` title edits committed, then ``search_outbox_apply``
  until the outbox is empty: listing changes per second, and a check that the index holds
  the new titles.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
os.environ.setdefault("DEBUG", "true")

from benchdb import use_bench_database  # noqa: E402 (bench/ is the script's directory)


def setup(args) -> None:
    import django
    from django.conf import settings

    settings.CACHES["default"]["KEY_PREFIX"] = f"bench-{args.database}"
    django.setup()
    use_bench_database(args.database, recreate=args.recreate)
    settings.SEARCH_ENGINE = "tantivy"
    settings.SEARCH_ENGINE_PATH = args.index


def fill(args) -> None:
    from django.core.management import call_command

    from listings.demo import seed_demo
    from listings.models import Listing

    call_command("migrate", verbosity=0)
    count = Listing.objects.count()
    if count and count != args.listings:
        sys.exit(
            f"{args.database} holds {count:,} listings, not {args.listings:,}: --recreate or --database."
        )
    if not count:
        print(f"Loading {args.listings:,} listings with seed_demo's loader")
        report = seed_demo(listings=args.listings, seed=1, images=False, progress=True)
        print(f"Loaded in {report.seconds:.1f} s")


def edit_titles(ids: list, round_: int) -> float:
    """Commit one title edit per id (one UPDATE); seconds."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE listings_listing SET title = regexp_replace(title, ' zq[0-9]+x$', '') || %s"
            " WHERE id = ANY(%s)",
            [f" zq{round_}x", ids],
        )
    return time.perf_counter() - started


def edit_titles_without_outbox(ids: list) -> float:
    """The same edit with the outbox trigger disabled (rolled back): what the trigger costs."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE listings_listing DISABLE TRIGGER listings_search_outbox_update")
        started = time.perf_counter()
        cursor.execute(
            "UPDATE listings_listing SET title = regexp_replace(title, ' zq[0-9]+x$', '') || ' zq0x'"
            " WHERE id = ANY(%s)",
            [ids],
        )
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listings", type=int, default=20_000)
    parser.add_argument("--changes", type=int, default=2_000, help="Listing edits per round.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database")
    parser.add_argument("--index")
    parser.add_argument("--recreate", action="store_true")
    parser.add_argument("--skip-reindex", action="store_true", help="Reuse the index if there is one.")
    parser.add_argument(
        "--reindex-only",
        action="store_true",
        help="Measure the reindex only: change no listing (shared bench data).",
    )
    args = parser.parse_args()
    args.database = args.database or f"marketplace_bench_{args.listings}"
    args.index = args.index or str(BASE_DIR / ".data" / f"bench-search-index-{args.listings}")
    setup(args)
    fill(args)

    from django.db import connection

    from listings.search import engine
    from listings.search.sync import search_outbox_apply, search_reindex
    from listings.selectors import public_listings

    if not (args.skip_reindex and engine.open_index() is not None):
        result = search_reindex()
        print(
            f"reindex: {result.documents:,} documents in {result.seconds:.1f} s "
            f"({result.documents / result.seconds:,.0f} documents/s), "
            f"{result.outbox_dropped:,} outbox rows dropped"
        )
    if args.reindex_only:
        return
    search_outbox_apply(max_seconds=600)  # whatever was left

    ids = list(public_listings().order_by("?").values_list("pk", flat=True)[: args.changes])
    # The best of three each: the machine is shared.
    with_outbox = min(edit_titles(ids, 0) for _ in range(3))
    without = min(edit_titles_without_outbox(ids) for _ in range(3))
    print(
        f"trigger: {len(ids):,} title edits in one UPDATE: {with_outbox * 1000:.0f} ms with the "
        f"outbox rows, {without * 1000:.0f} ms without "
        f"({(with_outbox - without) / len(ids) * 1e6:.0f} us per row for the outbox)"
    )
    search_outbox_apply(max_seconds=600)

    rates = []
    for round_ in range(1, args.rounds + 1):
        edit_titles(ids, round_)
        started = time.perf_counter()
        applied = search_outbox_apply(max_seconds=600)
        seconds = time.perf_counter() - started
        rates.append(applied / seconds)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM listings_search_outbox")
            left = cursor.fetchone()[0]
        index = engine.open_index()
        found = index.searcher().search(index.parse_query(f"zq{round_}x", ["title"]), 1, count=True).count
        print(
            f"apply round {round_}: {applied:,} changes in {seconds:.2f} s "
            f"({applied / seconds:,.0f} changes/s); outbox left {left}; "
            f"index finds the new title on {found:,} listings"
        )
    print(f"apply: median {statistics.median(rates):,.0f} listing changes/s (batch of 500 per commit)")


if __name__ == "__main__":
    main()
