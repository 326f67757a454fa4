"""Payments benchmark: the sales and order reads, ``reconcile`` and ``release_escrow`` at N transactions.

    .venv/bin/python bench/payments_bench.py --transactions 100000 [--iterations 30] [--recreate]

Works on its own database on the development server (``marketplace_bench_pay_<N>`` unless
``--database`` names another; the development database is refused): creates it, migrates it,
loads it in SQL when it holds no transactions (sellers, buyers, transactions of every status
and the ledger rows each status implies, as ``payments.services`` writes them), and VACUUM
ANALYZEs it. Then times:

- ``manage.py reconcile`` (wall time, and each of its queries);
- the reads of ``payments.selectors`` (sales page, first and deep, all and completed; sales
  summary; recent sales; buyer's orders page) for the big seller (5 % of all sales) and for
  typical sellers, and ``payments.services.ledger_totals``: p50/p95 of the SQL time (every
  query, timed around ``cursor.execute`` with connection.execute_wrapper) and of the call;
- ``release_escrow`` over ``--release`` newly inserted due transactions (simulated Connect
  gateway): transfers per second;

then EXPLAIN (ANALYZE, BUFFERS) of the slowest read query (``--explain-each``: of every read)
and of reconcile's slowest query. See bench/README.md.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
# Development mode (the development servers, no SECRET_KEY needed) unless the caller set DEBUG.
os.environ.setdefault("DEBUG", "true")

from benchdb import percentile, use_bench_database  # noqa: E402 (bench/ is the script's directory)

BIG_SELLER = 1  # seller number 1 has BIG_SELLER_SHARE of all sales
BIG_SELLER_SHARE = 0.05

# Users: deterministic ids (md5 of a name), so the transactions need no join to find them.
USERS_SQL = """
INSERT INTO accounts_user (
    id, password, is_superuser, email, first_name, last_name, avatar, bio, is_seller, is_staff,
    is_active, seller_display_name, stripe_connect_id, total_sales_count, seller_rating_sum,
    seller_rating_count, buyer_rating_sum, buyer_rating_count, phone_number, account_status,
    email_verified_at, created_at, updated_at)
SELECT md5(%(kind)s || '-' || n)::uuid, '!bench', false, %(kind)s || n || '@bench.example',
    initcap(%(kind)s), n::text, '', '', %(seller)s, false, true,
    CASE WHEN %(seller)s THEN 'Bench shop ' || n ELSE '' END,
    CASE WHEN %(seller)s THEN 'acct_bench_' || n END,
    0, 0, 0, 0, 0, '', 'active', now() - interval '400 days', now() - interval '400 days',
    now() - interval '400 days'
FROM generate_series(1, %(count)s) AS n
"""

# One row of random draws per transaction (materialized: each draw is used several times).
DRAWS_SQL = """
CREATE TEMP TABLE bench_draw AS
SELECT g, random() AS u, random() AS v, random() AS w, random() AS a, random() AS c,
    random() AS s, random() AS b
FROM generate_series(1, %(count)s) AS g
"""

# Status mix: 70 % completed, 15 % processing, 5 % refunded, 5 % cancelled, 4 % pending,
# 1 % disputed. Pending ones are minutes old (older ones are expired by expire_checkouts);
# processing ones are under 7 days old, so their escrow date is still ahead; the rest spread
# over the year before (disputes over the last two months).
BASE_SQL = """
CREATE TEMP TABLE bench_base AS
SELECT g, w, md5('bench-txn-' || g)::uuid AS id, status,
    CASE WHEN s < %(big_share)s THEN %(big)s ELSE 2 + floor(b * (%(sellers)s - 1))::int END AS seller_n,
    1 + floor(random() * %(buyers)s)::int AS buyer_n,
    subtotal, subtotal * %(bps)s / 10000 AS fee,
    CASE WHEN c < 0.80 THEN 'USD' WHEN c < 0.95 THEN 'EUR' ELSE 'GBP' END AS currency,
    CASE status
        WHEN 'pending' THEN now() - v * interval '25 minutes'
        WHEN 'processing' THEN now() - v * interval '6 days'
        WHEN 'disputed' THEN now() - interval '8 days' - v * interval '52 days'
        ELSE now() - interval '8 days' - v * interval '357 days'
    END AS created_at
FROM (
    SELECT *, round(exp(ln(500) + a * ln(400)))::bigint AS subtotal,
        CASE WHEN u < 0.70 THEN 'completed' WHEN u < 0.85 THEN 'processing'
             WHEN u < 0.90 THEN 'refunded' WHEN u < 0.95 THEN 'cancelled'
             WHEN u < 0.99 THEN 'pending' ELSE 'disputed' END AS status
    FROM bench_draw
) AS d
"""

# Every date and ledger amount of each transaction (NULL: no such row), from its status:
# - completed: charge, fee, transfer (payout less partial refunds); 2 % with a partial refund
#   before release, 1 % with a dispute that was won (dispute + dispute_won);
# - processing: charge, fee; 5 % with a partial refund (a quarter of the payout);
# - refunded: charge, fee, refund of the total, fee reversal; 80 % before release (no
#   transfer), 20 % after it (transfer, then its reversal; one in ten booked as seller debt);
# - cancelled: nothing; 2 % a late payment refunded at once (charge + refund);
# - disputed: charge, fee, dispute of the total; half after release (with the transfer).
#   Opened within the last 50 hours: those over TRANSACTION_STUCK_HOURS (48) are "stuck".
DETAIL_SQL = """
CREATE TEMP TABLE bench_txn AS
SELECT *,
    CASE WHEN status = 'completed' AND partial THEN subtotal - fee - (subtotal - fee) / 4
         WHEN status IN ('completed', 'refunded', 'disputed') AND released_at IS NOT NULL
         THEN subtotal - fee END AS transfer_amount
FROM (
    SELECT *,
        CASE WHEN status = 'completed' OR (status = 'refunded' AND w >= 0.8)
                  OR (status = 'disputed' AND w >= 0.5)
             THEN created_at + interval '7 days 5 minutes' END AS released_at
    FROM (
        SELECT *,
            (status = 'processing' AND w < 0.05) OR (status = 'completed' AND w < 0.02) AS partial,
            status NOT IN ('pending', 'cancelled') OR (status = 'cancelled' AND w < 0.02) AS paid
        FROM bench_base
    ) AS p
) AS r
"""

LEDGER_SQL = """
INSERT INTO payments_ledgerentry (transaction_id, kind, amount_cents, currency, external_id, created_at)
SELECT t.id, e.kind, e.amount, t.currency, e.external_id, e.at
FROM bench_txn AS t
CROSS JOIN LATERAL (VALUES
    ('charge', CASE WHEN t.paid THEN t.subtotal END, 'ch_bench_' || t.g, t.created_at + interval '2 minutes'),
    ('platform_fee', CASE WHEN t.paid AND t.status <> 'cancelled' THEN t.fee END, '',
        t.created_at + interval '2 minutes'),
    ('refund', CASE WHEN t.partial THEN (t.subtotal - t.fee) / 4
                    WHEN t.status IN ('refunded', 'cancelled') AND t.paid THEN t.subtotal END,
        're_bench_' || t.g, coalesce(t.released_at, t.created_at) + interval '3 days'),
    ('transfer', t.transfer_amount, 'tr_bench_' || t.g, t.released_at),
    ('platform_fee_reversal', CASE WHEN t.status = 'refunded' THEN t.fee END, '',
        CASE WHEN t.released_at IS NULL THEN t.created_at + interval '3 days'
             ELSE t.released_at + interval '3 days' END),
    ('transfer_reversal', CASE WHEN t.status = 'refunded' AND t.released_at IS NOT NULL AND t.w >= 0.82
        THEN t.transfer_amount END, 'trr_bench_' || t.g, t.released_at + interval '3 days 1 minute'),
    ('seller_debt', CASE WHEN t.status = 'refunded' AND t.released_at IS NOT NULL AND t.w < 0.82
        THEN t.transfer_amount END, '', t.released_at + interval '3 days 1 minute'),
    ('dispute', CASE WHEN t.status = 'disputed' OR (t.status = 'completed' AND t.w BETWEEN 0.02 AND 0.03)
        THEN t.subtotal END, 'dp_bench_' || t.g,
        CASE WHEN t.status = 'disputed' THEN now() - t.w * interval '50 hours'
             ELSE t.created_at + interval '20 days' END),
    ('dispute_won', CASE WHEN t.status = 'completed' AND t.w BETWEEN 0.02 AND 0.03 THEN t.subtotal END,
        'dpw_bench_' || t.g, t.created_at + interval '40 days')
) AS e(kind, amount, external_id, at)
WHERE e.amount > 0
ORDER BY e.at
"""

TRANSACTIONS_SQL = """
INSERT INTO payments_transaction (
    id, listing_id, buyer_id, seller_id, subtotal_cents, platform_fee_cents, processing_fee_cents,
    total_cents, seller_payout_cents, currency, payment_provider, payment_intent_id, charge_id,
    transfer_id, status, escrow_release_date, escrow_released_at, buyer_note, seller_note, metadata,
    idempotency_key, created_at, updated_at, completed_at, cancelled_at)
SELECT id, NULL, md5('buyer-' || buyer_n)::uuid, md5('seller-' || seller_n)::uuid, subtotal, fee, 0,
    subtotal, subtotal - fee, currency, 'stripe',
    CASE WHEN status <> 'pending' THEN 'pi_bench_' || g END,
    CASE WHEN paid THEN 'ch_bench_' || g ELSE '' END,
    CASE WHEN transfer_amount IS NOT NULL THEN 'tr_bench_' || g ELSE '' END,
    status,
    CASE WHEN paid AND status <> 'cancelled' THEN created_at + interval '7 days' END,
    released_at, '', '', jsonb_build_object('platform_fee_bps', %(bps)s), 'bench-' || g, created_at,
    CASE status WHEN 'disputed' THEN now() - w * interval '50 hours'
                WHEN 'refunded' THEN coalesce(released_at, created_at) + interval '3 days'
                WHEN 'cancelled' THEN created_at + interval '30 minutes'
                ELSE coalesce(released_at, created_at + interval '2 minutes') END,
    CASE WHEN released_at IS NOT NULL THEN released_at END,
    CASE WHEN status = 'cancelled' THEN created_at + interval '30 minutes' END
FROM bench_txn
ORDER BY created_at
"""

# release_escrow: fresh processing transactions whose escrow ended an hour ago, with their
# charge and fee (sellers 2..: the big seller's sales pages keep their shape).
RELEASE_SQL = """
WITH fresh AS (
    SELECT gen_random_uuid() AS id,
        md5('buyer-' || (1 + floor(random() * %(buyers)s)::int))::uuid AS buyer_id,
        md5('seller-' || (2 + floor(random() * (%(sellers)s - 1))::int))::uuid AS seller_id,
        2000 + floor(random() * 50000)::bigint AS subtotal, n
    FROM generate_series(1, %(count)s) AS n
), txn AS (
    INSERT INTO payments_transaction (
        id, buyer_id, seller_id, subtotal_cents, platform_fee_cents, processing_fee_cents, total_cents,
        seller_payout_cents, currency, payment_provider, payment_intent_id, charge_id, transfer_id, status,
        escrow_release_date, buyer_note, seller_note, metadata, idempotency_key, created_at, updated_at)
    SELECT id, buyer_id, seller_id, subtotal, subtotal * %(bps)s / 10000, 0, subtotal,
        subtotal - subtotal * %(bps)s / 10000, 'USD', 'stripe', 'pi_' || id, 'ch_' || id, '', 'processing',
        now() - interval '1 hour', '', '', jsonb_build_object('platform_fee_bps', %(bps)s),
        'bench-release-' || id, now() - interval '7 days 1 hour', now() - interval '7 days 1 hour'
    FROM fresh
    RETURNING id, subtotal_cents, platform_fee_cents
)
INSERT INTO payments_ledgerentry (transaction_id, kind, amount_cents, currency, external_id, created_at)
SELECT id, 'charge', subtotal_cents, 'USD', 'ch_' || id, now() - interval '7 days 1 hour' FROM txn
UNION ALL
SELECT id, 'platform_fee', platform_fee_cents, 'USD', '', now() - interval '7 days 1 hour' FROM txn
WHERE platform_fee_cents > 0
"""


@dataclass
class Sample:
    sql: float
    full: float
    queries: int


@dataclass
class Slowest:
    seconds: float = 0.0
    read: str = ""
    sql: str = ""
    params: object = None


@dataclass
class Recorder:
    """Times every query run inside ``timed()`` (client side: includes the round trip)."""

    executed: list[tuple[str, object, float]] = field(default_factory=list)

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.executed.append((sql, params, time.perf_counter() - started))

    def run(self, call: Callable[[], object]) -> tuple[float, object]:
        from django.db import connection

        self.executed.clear()
        started = time.perf_counter()
        with connection.execute_wrapper(self):
            result = call()
        return time.perf_counter() - started, result


def milliseconds(value: float) -> str:
    return f"{value * 1000:9.1f}"


def prepare_database(args) -> None:
    """Point Django at the bench database, creating (or re-creating) it first."""
    import django
    from django.conf import settings

    # Simulated Connect keeps accounts and transfers in Redis: under the bench's own prefix.
    settings.CACHES["default"]["KEY_PREFIX"] = f"bench-{args.database}"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # payout notices
    django.setup()
    use_bench_database(args.database, recreate=args.recreate)


def step(cursor, label: str, sql: str, params: dict | None = None) -> None:
    started = time.monotonic()
    cursor.execute(sql, params)
    rows = f"{cursor.rowcount:,} rows, " if cursor.rowcount and cursor.rowcount > 0 else ""
    print(f"  {label}: {rows}{time.monotonic() - started:.1f} s", flush=True)


def fill_database(args) -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    from payments.models import Transaction

    call_command("migrate", verbosity=0)
    count = Transaction.objects.exclude(idempotency_key__startswith="bench-release-").count()
    if count and count != args.transactions:
        sys.exit(
            f"{args.database} holds {count:,} transactions, not {args.transactions:,}: pass --recreate "
            "to load it again, or --database to use another."
        )
    if count:
        return
    print(f"Loading {args.sellers:,} sellers, {args.buyers:,} buyers, {args.transactions:,} transactions")
    params = {
        "count": args.transactions,
        "sellers": args.sellers,
        "buyers": args.buyers,
        "big": BIG_SELLER,
        "big_share": BIG_SELLER_SHARE,
        "bps": settings.PLATFORM_FEE_BPS,
    }
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [(args.seed % 1000) / 1000])
        # Foreign keys checked by each statement (ALTER TABLE refuses pending deferred checks).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        step(cursor, "sellers", USERS_SQL, {"kind": "seller", "seller": True, "count": args.sellers})
        step(cursor, "buyers", USERS_SQL, {"kind": "buyer", "seller": False, "count": args.buyers})
        step(cursor, "draws", DRAWS_SQL, params)
        step(cursor, "amounts, statuses, dates", BASE_SQL, params)
        step(cursor, "ledger plan", DETAIL_SQL, params)
        # users.total_sales_count: set once below instead of one UPDATE of the seller per row.
        cursor.execute(
            "ALTER TABLE payments_transaction DISABLE TRIGGER payments_transaction_total_sales_write"
        )
        step(cursor, "transactions", TRANSACTIONS_SQL, params)
        cursor.execute(
            "ALTER TABLE payments_transaction ENABLE TRIGGER payments_transaction_total_sales_write"
        )
        step(cursor, "ledger entries", LEDGER_SQL, params)
        step(
            cursor,
            "sellers' total_sales_count",
            """UPDATE accounts_user AS u SET total_sales_count = s.n
               FROM (SELECT seller_id, count(*) AS n FROM payments_transaction
                     WHERE status = 'completed' GROUP BY seller_id) AS s
               WHERE u.id = s.seller_id""",
        )
    print(f"Loaded and committed in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) accounts_user, payments_transaction, payments_ledgerentry")
    print(f"VACUUM ANALYZE in {time.monotonic() - started:.1f} s")


def database_summary(args) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT (SELECT count(*) FROM payments_transaction),
                      (SELECT count(*) FROM payments_ledgerentry),
                      pg_size_pretty(pg_database_size(current_database())),
                      pg_size_pretty(pg_total_relation_size('payments_transaction')),
                      pg_size_pretty(pg_total_relation_size('payments_ledgerentry'))"""
        )
        transactions, entries, size, txn_size, ledger_size = cursor.fetchone()
        cursor.execute("SELECT status, count(*) FROM payments_transaction GROUP BY status ORDER BY 2 DESC")
        statuses = ", ".join(f"{status} {n:,}" for status, n in cursor.fetchall())
    print(
        f"{args.database}: {transactions:,} transactions ({statuses}); {entries:,} ledger entries; "
        f"database {size} (transactions {txn_size}, ledger {ledger_size})"
    )


def time_reconcile(args, recorder: Recorder) -> Slowest:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    slowest = Slowest(read="reconcile")
    for run in range(args.reconcile_runs):
        out = io.StringIO()
        error = None

        def reconcile(out=out):
            call_command("reconcile", stdout=out)

        started = time.perf_counter()
        try:
            recorder.run(reconcile)
        except CommandError as raised:
            error = raised
        wall = time.perf_counter() - started
        lines = out.getvalue().splitlines()
        off = sum(line.startswith("OFF ") for line in lines)
        stuck = sum(line.startswith("STUCK ") for line in lines)
        reads = [seconds for sql, _, seconds in recorder.executed if "FROM" in sql]
        queries = ", ".join(
            f"{name} {seconds * 1000:.0f} ms"
            for name, seconds in zip(("OFF", "STUCK", "SUMMARY"), reads, strict=False)
        )
        print(
            f"reconcile run {run + 1}: {wall * 1000:.0f} ms wall; OFF {off}, STUCK {stuck}; "
            f"queries: {queries}" + (f"; CommandError: {error}" if error else "")
        )
        for sql, params, seconds in recorder.executed:
            if seconds > slowest.seconds:
                slowest.seconds, slowest.sql, slowest.params = seconds, sql, params
        if run == 0:
            summary = [line for line in lines if not line.startswith(("OFF ", "STUCK "))]
            print("  " + "\n  ".join(summary))
            for line in [line for line in lines if line.startswith("OFF ")][:5]:
                print(f"  {line}")
    return slowest


def deep_cursor(seller_pk, status: str | None, depth: float) -> str | None:
    """The signed cursor a seller would hold after paging ``depth`` (0..1) into a tab."""
    from django.core import signing

    from payments.models import Transaction
    from payments.selectors import SELLER_SALES_ALL, SELLER_SALES_CURSOR_SALT

    sales = Transaction.objects.filter(seller_id=seller_pk)
    if status:
        sales = sales.filter(status=status)
    offset = int(sales.count() * depth)
    row = sales.order_by("-created_at", "-id").values("created_at", "id")[offset : offset + 1].first()
    if row is None:
        return None
    scope = status or SELLER_SALES_ALL
    return signing.dumps(
        {"s": scope, "t": row["created_at"].isoformat(), "id": str(row["id"])}, salt=SELLER_SALES_CURSOR_SALT
    )


def time_reads(args, recorder: Recorder) -> dict[str, Slowest]:
    from accounts.models import User
    from payments import selectors
    from payments.models import Transaction
    from payments.services import ledger_totals

    rng = random.Random(args.seed)
    big = User.objects.get(email=f"seller{BIG_SELLER}@bench.example")
    sellers = list(User.objects.filter(is_seller=True).exclude(pk=big.pk).order_by("?")[:100])
    buyers = list(User.objects.filter(is_seller=False, email__startswith="buyer").order_by("?")[:200])
    sample_ids = list(
        Transaction.objects.order_by("?").exclude(status="pending").values_list("pk", flat=True)[:500]
    )
    cursors: dict[tuple, str | None] = {}

    def cursor_for(seller, status):
        key = (seller.pk, status)
        if key not in cursors:
            cursors[key] = deep_cursor(seller.pk, status, args.depth)
        return cursors[key]

    def page(seller, status, deep):
        cursor = cursor_for(seller, status) if deep else None
        result = selectors.seller_sales_page(seller=seller, status=status, cursor=cursor)
        if result.cursor_invalid:
            raise SystemExit("The deep cursor was refused.")
        return result

    reads: dict[str, Callable[[], object]] = {}
    for who in ("big", "typical"):

        def pick(who=who):
            return big if who == "big" else rng.choice(sellers)

        reads[f"sales page {who}, all"] = lambda pick=pick: page(pick(), None, False)
        reads[f"sales page {who}, completed"] = lambda pick=pick: page(pick(), "completed", False)
        reads[f"sales page {who}, all, deep"] = lambda pick=pick: page(pick(), None, True)
        reads[f"sales page {who}, completed, deep"] = lambda pick=pick: page(pick(), "completed", True)
        # The query behind the Redis-cached summary (a cache hit costs no SQL): what a miss costs.
        reads[f"sales summary {who}"] = lambda pick=pick: selectors._seller_sales_summary(pick())
        reads[f"recent sales {who}"] = lambda pick=pick: selectors.seller_recent_sales(seller=pick())
    reads["buyer orders page"] = lambda: selectors.buyer_orders_page(buyer=rng.choice(buyers), cursor=None)
    reads["ledger_totals"] = lambda: ledger_totals(Transaction(pk=rng.choice(sample_ids)))

    print(
        f"Big seller: {Transaction.objects.filter(seller_id=big.pk).count():,} sales; typical sellers "
        f"(random of {len(sellers)}): ~{Transaction.objects.filter(seller_id=sellers[0].pk).count():,}; "
        f"deep cursor at {args.depth:.0%} of the tab"
    )
    for seller in [big, *sellers]:  # the deep cursors, signed outside the timing
        for status in (None, "completed"):
            cursor_for(seller, status)
    for call in reads.values():  # warm up
        for _ in range(args.warmup):
            call()
    timings: dict[str, list[Sample]] = defaultdict(list)
    slowest: dict[str, Slowest] = defaultdict(Slowest)
    for _ in range(args.iterations):
        for name, call in reads.items():
            full, _ = recorder.run(call)
            timings[name].append(
                Sample(sql=sum(s for *_, s in recorder.executed), full=full, queries=len(recorder.executed))
            )
            for sql, params, seconds in recorder.executed:
                if seconds > slowest[name].seconds:
                    slowest[name] = Slowest(seconds, name, sql, params)

    print()
    print(
        f"Reads, {args.iterations} calls each (+{args.warmup} warm-up). "
        "Times in ms; sql = every query of the call."
    )
    header = "read                                  queries  sql p50  sql p95 call p50 call p95"
    print(header)
    print("-" * len(header))
    for name, samples in timings.items():
        sql = [s.sql for s in samples]
        full = [s.full for s in samples]
        print(
            f"{name:38s}{max(s.queries for s in samples):7d}"
            f"{milliseconds(percentile(sql, 0.5))}{milliseconds(percentile(sql, 0.95))}"
            f"{milliseconds(percentile(full, 0.5))}{milliseconds(percentile(full, 0.95))}"
        )
    return slowest


def time_release(args, recorder: Recorder) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.db import connection, transaction

    from payments.gateway import SimulatedConnectGateway, connect_gateway

    if not isinstance(connect_gateway(), SimulatedConnectGateway):
        print("release_escrow: skipped, Connect is not simulated here (STRIPE_CONNECT_SIMULATED is off).")
        return
    gateway = SimulatedConnectGateway()
    started = time.monotonic()
    for n in range(1, args.sellers + 1):
        gateway.complete_onboarding(f"acct_bench_{n}")
    print(
        f"\nrelease_escrow: {args.sellers:,} sellers onboarded (simulated) "
        f"in {time.monotonic() - started:.1f} s"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        step(
            cursor,
            f"{args.release:,} due transactions inserted (with charge and fee)",
            RELEASE_SQL,
            {"count": args.release, "sellers": args.sellers, "buyers": args.buyers, "bps": 1000},
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE payments_transaction, payments_ledgerentry")
    out, err = io.StringIO(), io.StringIO()
    error = None
    started = time.perf_counter()
    try:
        recorder.run(lambda: call_command("release_escrow", stdout=out, stderr=err))
    except CommandError as raised:
        error = raised
    wall = time.perf_counter() - started
    sql = sum(s for *_, s in recorder.executed)
    print(
        f"  {out.getvalue().strip()}"
        + (f" CommandError: {error}" if error else "")
        + (f"\n  stderr: {err.getvalue().strip()[:500]}" if err.getvalue() else "")
    )
    print(
        f"  {wall:.1f} s wall: {args.release / wall:.0f} transfers/s; {len(recorder.executed):,} queries "
        f"({len(recorder.executed) / args.release:.1f} per release), "
        f"SQL {sql:.1f} s ({sql / wall:.0%} of the wall)"
    )


def explain(record: Slowest, show_sql: bool) -> None:
    from django.db import connection

    print()
    print(f"Slowest query of {record.read} ({record.seconds * 1000:.1f} ms):")
    if show_sql:
        print(record.sql, record.params)
    else:
        print(" ".join(record.sql.split())[:500] + " ...")
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {record.sql}", record.params)
        for (line,) in cursor.fetchall():
            print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--transactions", type=int, default=100_000, help="Transactions to load (default 100,000)."
    )
    parser.add_argument("--sellers", type=int, default=1_000, help="Sellers (default 1,000).")
    parser.add_argument("--buyers", type=int, default=20_000, help="Buyers (default 20,000).")
    parser.add_argument("--iterations", type=int, default=30, help="Timed calls per read (default 30).")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed calls per read first.")
    parser.add_argument("--depth", type=float, default=0.8, help="Where the deep cursor is (default 0.8).")
    parser.add_argument("--reconcile-runs", type=int, default=2, help="Runs of reconcile (default 2).")
    parser.add_argument(
        "--release", type=int, default=1_000, help="Due transactions for release_escrow (0: skip it)."
    )
    parser.add_argument("--seed", type=int, default=42, help="Seed of the data and of the inputs.")
    parser.add_argument("--database", help="Bench database name (default marketplace_bench_pay_<N>).")
    parser.add_argument("--recreate", action="store_true", help="Drop the bench database and load it again.")
    parser.add_argument(
        "--explain-each", action="store_true", help="EXPLAIN the slowest query of every read."
    )
    parser.add_argument("--show-sql", action="store_true", help="Print the slowest queries whole.")
    args = parser.parse_args()
    args.database = args.database or f"marketplace_bench_pay_{args.transactions}"

    prepare_database(args)
    fill_database(args)
    database_summary(args)

    from django.conf import settings

    settings.DEBUG = False  # no query log: time what production would run
    recorder = Recorder()
    reconcile_slowest = time_reconcile(args, recorder)
    slowest = time_reads(args, recorder)
    if args.explain_each:
        records = sorted(slowest.values(), key=lambda record: -record.seconds)
    else:
        records = [max(slowest.values(), key=lambda record: record.seconds)]
    for record in records:
        explain(record, args.show_sql)
    explain(reconcile_slowest, args.show_sql)
    if args.release:
        time_release(args, recorder)
        print("\nreconcile after release_escrow:")
        args.reconcile_runs = 1
        time_reconcile(args, recorder)


if __name__ == "__main__":
    main()
