from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from marketplace.money import format_amount
from payments.ledger import DISPUTED, PAID, PAID_OUT, PLATFORM_FEE, REFUNDED, SELLER_DEBT, SELLER_HOLDS
from payments.selectors import held_payouts

# Ledger figures per transaction, each from its one definition in ``payments.ledger``:
# c charged (PAID), f platform fee kept (PLATFORM_FEE), p paid out to the seller (PAID_OUT),
# o owed by the seller (SELLER_DEBT), x what the seller holds: p less o (SELLER_HOLDS, what the
# balance counts), r refunded (REFUNDED), d lost to disputes (DISPUTED). n rows, wrong_currency
# any row in another currency than its transaction (from the rows' least and greatest
# currency: no second join).
TOTALS = f"""
    SELECT t.id, t.status, t.currency, t.total_cents, t.platform_fee_cents, t.seller_payout_cents,
        coalesce(l.c, 0) AS c, coalesce(l.f, 0) AS f, coalesce(l.x, 0) AS x, coalesce(l.p, 0) AS p,
        coalesce(l.r, 0) AS r, coalesce(l.d, 0) AS d, coalesce(l.o, 0) AS o, coalesce(l.n, 0) AS n,
        coalesce(l.lowest_currency <> t.currency OR l.highest_currency <> t.currency, false)
          AS wrong_currency
    FROM payments_transaction AS t
    LEFT JOIN (
        SELECT e.transaction_id,
            {PAID.sql("e")} AS c,
            {PLATFORM_FEE.sql("e")} AS f,
            {SELLER_HOLDS.sql("e")} AS x,
            {PAID_OUT.sql("e")} AS p,
            {SELLER_DEBT.sql("e")} AS o,
            {REFUNDED.sql("e")} AS r,
            {DISPUTED.sql("e")} AS d,
            count(*) AS n,
            min(e.currency) AS lowest_currency,
            max(e.currency) AS highest_currency
        FROM payments_ledgerentry AS e
        GROUP BY e.transaction_id
    ) AS l ON l.transaction_id = t.id
"""  # noqa: S608 - the figures' SQL inlines only LedgerKind constants
# What the ledger must say for each status (payments.ledger states the rules):
# unpaid: nothing; cancelled: nothing, or a late payment refunded in full; paid, in escrow:
# the charge and the fee, nothing transferred, refunds only from the seller's share;
# settled: charge = transfers + fees + refunds + disputes.
BALANCED = """
    NOT wrong_currency AND CASE status
        WHEN 'pending' THEN n = 0
        WHEN 'cancelled' THEN n = 0 OR (c > 0 AND c = r AND f = 0 AND x = 0 AND d = 0)
        WHEN 'processing' THEN c = total_cents AND f = platform_fee_cents AND x = 0 AND d = 0
            AND r <= seller_payout_cents
        WHEN 'completed' THEN c = total_cents AND f = platform_fee_cents AND d = 0 AND c = x + f + r
        WHEN 'refunded' THEN c = total_cents AND f = 0 AND x = 0 AND c = x + f + r + d
        WHEN 'disputed' THEN c = total_cents AND d > 0
        ELSE false
    END
"""
# The totals are computed once per run, into a temporary table both queries read.
CREATE_TOTALS = f"CREATE TEMPORARY TABLE reconcile_totals AS {TOTALS}"
DROP_TOTALS = "DROP TABLE IF EXISTS reconcile_totals"
OFF = f"SELECT * FROM reconcile_totals AS totals WHERE NOT ({BALANCED}) ORDER BY id"  # noqa: S608 - constants
SUMMARY = """
    SELECT count(*), count(*) FILTER (WHERE status = 'completed'), sum(c), sum(p), sum(f), sum(r), sum(d),
        count(*) FILTER (WHERE o > 0), sum(o)
    FROM reconcile_totals
"""
# Unpaid past its checkout expiry by far, paid but not released long after it was due, or
# disputed with no news: each for longer than TRANSACTION_STUCK_HOURS.
STUCK = """
    SELECT id, status, CASE status WHEN 'pending' THEN created_at
                                   WHEN 'processing' THEN escrow_release_date
                                   ELSE updated_at END AS since
    FROM payments_transaction
    WHERE (status = 'pending' AND created_at < %(cutoff)s)
       OR (status = 'processing' AND escrow_released_at IS NULL AND escrow_release_date < %(cutoff)s)
       OR (status = 'disputed' AND updated_at < %(cutoff)s)
    ORDER BY since
"""


class Command(BaseCommand):
    help = (
        "Prove from the ledger that every transaction's money adds up for its status (charges = "
        "transfers + platform fees + refunds, reversals netted; a refund after release whose "
        "transfer is not pulled back yet does not add up), and list transactions stuck "
        "in pending, processing or disputed for longer than TRANSACTION_STUCK_HOURS, and payouts "
        "held for staff because the seller is not in good standing (listed, not an error). Exits "
        "non-zero when anything is off. Changes nothing (its totals go to a temporary table)."
    )

    def handle(self, *args, **options):
        cutoff = timezone.now() - timedelta(hours=settings.TRANSACTION_STUCK_HOURS)
        nested = connection.in_atomic_block
        with transaction.atomic(), connection.cursor() as cursor:
            if not nested:  # one snapshot for every query (it writes only its temporary table)
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            # A failure rolls the table back with the block; a success drops it.
            cursor.execute(DROP_TOTALS)
            cursor.execute(CREATE_TOTALS)
            cursor.execute(OFF)
            columns = [column.name for column in cursor.description]
            off = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            cursor.execute(STUCK, {"cutoff": cutoff})
            stuck = cursor.fetchall()
            cursor.execute(SUMMARY)
            summary = cursor.fetchone()
            cursor.execute(DROP_TOTALS)
            held = held_payouts()
        # A held payout waits for staff on purpose: listed as such, not as stuck.
        held_ids = {txn.pk for txn in held}
        stuck = [row for row in stuck if row[0] not in held_ids]
        checked, completed, charged, paid_out, fees, refunded, disputed, debtors, owed = summary
        for row in off:
            self.stdout.write(
                f"OFF {row['id']} {row['status']} {row['currency']}: total {row['total_cents']}, "
                f"charged {row['c']}, paid out {row['p']} (owed by the seller {row['o']}), "
                f"fees {row['f']} (expected {row['platform_fee_cents']}), refunded {row['r']}, "
                f"disputed {row['d']}"
                + (", ledger rows in another currency" if row["wrong_currency"] else "")
            )
        hours = settings.TRANSACTION_STUCK_HOURS
        for transaction_id, status, since in stuck:
            self.stdout.write(f"STUCK {transaction_id} {status} since {since.isoformat()} (> {hours} h)")
        for txn in held:
            self.stdout.write(
                f"HELD {txn.pk} {format_amount(txn.payout_due_cents, txn.currency)} to seller "
                f"{txn.seller_id} since {txn.escrow_release_date.isoformat()}: {txn.hold_reason}"
            )
        self.stdout.write(
            f"{checked} transactions checked ({completed} completed): charged {charged or 0}, "
            f"paid out {paid_out or 0}, platform fees {fees or 0}, refunded {refunded or 0}, "
            f"disputed {disputed or 0} (minor units, all currencies)."
        )
        if debtors:
            self.stdout.write(
                f"Sellers owe {owed} (minor units) on {debtors} transactions whose transfer Stripe would "
                "not reverse: see ledger entries of kind seller_debt."
            )
        if held:
            self.stdout.write(
                f"{len(held)} payouts are held for staff (sellers not in good standing): release them "
                "with a reason from the Transaction admin, or refund the buyers."
            )
        if off or stuck:
            raise CommandError(f"{len(off)} transactions do not reconcile; {len(stuck)} are stuck.")
        self.stdout.write(self.style.SUCCESS("Every transaction reconciles; none is stuck."))
