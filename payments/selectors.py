"""Reads of the payments app: the buyer's orders, and for the seller's pages the sales page,
its summary per currency, and the dashboard's most recent sales.

Money a sale has actually moved (refunded, paid out) is read from the append-only ledger,
never from the transaction's own columns: those say what the sale was priced at, the ledger
says what happened. Ledger sums are correlated subqueries on the page's own query, so a page
costs the same number of queries whatever it holds.
"""

from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from marketplace.pagination import StatusTab, newest_first_page
from payments import payouts
from payments.connect import PayoutStatus, seller_payout_status
from payments.models import LedgerEntry, LedgerKind, Transaction, TransactionStatus

BUYER_ORDERS_PAGE_SIZE = 25
BUYER_ORDERS_CURSOR_SALT = "payments.buyer-orders.cursor"
SELLER_SALES_PAGE_SIZE = 25
SELLER_SALES_CURSOR_SALT = "payments.seller-sales.cursor"
SELLER_SALES_ALL = "all"

# The sales page's tabs, in order: (key, label). Every key but "all" is a status.
SALES_TABS = (
    (SELLER_SALES_ALL, "All"),
    (TransactionStatus.PENDING, "Awaiting payment"),
    (TransactionStatus.PROCESSING, "Paid, in escrow"),
    (TransactionStatus.COMPLETED, "Completed"),
    (TransactionStatus.REFUNDED, "Refunded"),
    (TransactionStatus.CANCELLED, "Cancelled"),
    (TransactionStatus.DISPUTED, "Disputed"),
)

# What nets against transfers to the seller: reversals pulled back, and what the seller owes
# where Stripe refused a reversal.
_TRANSFER_DEDUCTIONS = (LedgerKind.TRANSFER_REVERSAL.value, LedgerKind.SELLER_DEBT.value)

# Why a paid sale past its escrow date is not paid out yet, by the seller's payout status.
PAYOUT_WAIT_REASONS = {
    PayoutStatus.NOT_CONNECTED: payouts.NO_ACCOUNT_MESSAGE,
    PayoutStatus.INCOMPLETE: payouts.ONBOARDING_MESSAGE,
    PayoutStatus.UNKNOWN: "We could not check your Stripe account just now; the sale is paid out as soon "
    "as your account can receive payouts.",
}
PAYOUT_DUE_MESSAGE = "Escrow is over: the payout is on its way with the next payout run."


@dataclass
class SellerSalesPage:
    status: str
    tabs: list[StatusTab]
    # Transactions, listing and buyer joined, each with ``refunded_cents``, ``paid_out_cents``
    # (from the ledger) and ``payout_wait_reason`` (a message, or "").
    sales: list[Transaction]
    next_cursor: str | None
    cursor_invalid: bool = False

    @property
    def total(self) -> int:
        return next(tab.count for tab in self.tabs if tab.status == SELLER_SALES_ALL)

    @property
    def current_tab(self) -> StatusTab:
        return next(tab for tab in self.tabs if tab.current)


@dataclass
class CurrencySummary:
    currency: str
    in_escrow_cents: int  # paid sales not released yet: their payouts less refunds
    paid_out_cents: int  # transfers to the seller, net of reversals and seller debt
    refunded_cents: int
    sales_count: int  # every transaction in this currency, whatever its status
    waiting_count: int  # paid sales past their escrow date that are not released


def _ledger_sum(*, plus: tuple[str, ...], minus: tuple[str, ...] = ()) -> Coalesce:
    """Per transaction (``OuterRef("pk")``): the ledger amounts of the ``plus`` kinds less
    those of the ``minus`` kinds, 0 without rows."""
    total = Coalesce(Sum("amount_cents", filter=Q(kind__in=plus)), 0)
    if minus:
        total = total - Coalesce(Sum("amount_cents", filter=Q(kind__in=minus)), 0)
    rows = (
        LedgerEntry.objects.filter(transaction_id=OuterRef("pk"), kind__in=(*plus, *minus))
        .order_by()
        .values("transaction_id")
        .annotate(total=total)
        .values("total")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def _refunded():
    return _ledger_sum(plus=(LedgerKind.REFUND.value,))


def _paid_out():
    return _ledger_sum(plus=(LedgerKind.TRANSFER.value,), minus=_TRANSFER_DEDUCTIONS)


def _waiting_q(now) -> Q:
    return Q(
        status=TransactionStatus.PROCESSING,
        escrow_released_at__isnull=True,
        escrow_release_date__lte=now,
    )


# Columns the order lists never show: left unread.
_HEAVY_FIELDS = (
    "metadata",
    "buyer_note",
    "seller_note",
    "listing__description",
    "listing__attributes",
    "listing__images",
    "listing__videos",
    "listing__search_vector",
    "listing__meta_title",
    "listing__meta_description",
)


def _seller_sales(seller) -> QuerySet:
    return (
        Transaction.objects.filter(seller_id=seller.pk)
        .select_related("listing", "buyer")
        .defer(*_HEAVY_FIELDS)
    )


def seller_sales_counts(*, seller) -> dict[str, int]:
    """The seller's transactions per status and in all ("all"): one aggregate query, an index-only
    scan of ``txn_seller_created`` (it includes the status; counting ``pk`` would visit the heap)."""
    return Transaction.objects.filter(seller_id=seller.pk).aggregate(
        **{SELLER_SALES_ALL: Count("status")},
        **{status.value: Count("status", filter=Q(status=status)) for status in TransactionStatus},
    )


def seller_sales_page(
    *,
    seller,
    status: str | None,
    cursor: str | None,
    limit: int = SELLER_SALES_PAGE_SIZE,
    payout_status: PayoutStatus | None = None,
) -> SellerSalesPage:
    """One page of the seller's sales of one status tab (unknown or None: all), newest
    first, with the count of every tab. Two queries: the counts, and the page with its
    listing, buyer and ledger sums.

    Keyset-paginated on (created_at, id), both descending; the cursor is signed and names
    its tab, so a tampered or foreign cursor gives the first page with ``cursor_invalid``.
    ``payout_status`` (the caller's, if it has it) explains sales that wait for payouts;
    without it, it is read (Redis-cached, no SQL) only when such a sale is on the page.
    """
    if status not in {key for key, _ in SALES_TABS}:
        status = SELLER_SALES_ALL
    counts = seller_sales_counts(seller=seller)
    sales = _seller_sales(seller).annotate(refunded_cents=_refunded(), paid_out_cents=_paid_out())
    if status != SELLER_SALES_ALL:
        sales = sales.filter(status=status)
    page = newest_first_page(
        sales, field="created_at", cursor=cursor, salt=SELLER_SALES_CURSOR_SALT, limit=limit, scope=status
    )
    now = timezone.now()
    for sale in page.rows:
        sale.payout_wait_reason = ""
        waiting = (
            sale.status == TransactionStatus.PROCESSING
            and sale.escrow_released_at is None
            and sale.escrow_release_date is not None
            and sale.escrow_release_date <= now
        )
        if waiting:
            if payout_status is None:
                payout_status = seller_payout_status(user=seller)
            sale.payout_wait_reason = PAYOUT_WAIT_REASONS.get(payout_status, PAYOUT_DUE_MESSAGE)
    tabs = [
        StatusTab(str(key), label, count=counts[str(key)], current=key == status) for key, label in SALES_TABS
    ]
    return SellerSalesPage(
        status=str(status),
        tabs=tabs,
        sales=page.rows,
        next_cursor=page.next_cursor,
        cursor_invalid=page.cursor_invalid,
    )


# Per currency: the seller's transactions (count, payouts held in escrow, sales waiting for a
# payout) and, in one pass over the ledger rows of those transactions, what was paid out,
# refunded, and refunded from sales still in escrow. Two grouped scans joined on currency,
# instead of ledger subqueries per sale.
_IN_ESCROW = "t.status = 'processing' AND t.escrow_released_at IS NULL"
_SUMMARY_SQL = f"""
    WITH sales AS (
        SELECT t.currency, count(*) AS sales_count,
            coalesce(sum(t.seller_payout_cents) FILTER (WHERE {_IN_ESCROW}), 0) AS escrow_payouts,
            count(*) FILTER (WHERE {_IN_ESCROW} AND t.escrow_release_date <= %(now)s) AS waiting_count
        FROM {Transaction._meta.db_table} AS t WHERE t.seller_id = %(seller)s
        GROUP BY t.currency
    ), money AS (
        SELECT t.currency,
            coalesce(sum(e.amount_cents) FILTER (WHERE e.kind = %(transfer)s), 0)
              - coalesce(sum(e.amount_cents) FILTER (WHERE e.kind = ANY(%(deductions)s)), 0) AS paid_out,
            coalesce(sum(e.amount_cents) FILTER (WHERE e.kind = %(refund)s), 0) AS refunded,
            coalesce(sum(e.amount_cents) FILTER (WHERE e.kind = %(refund)s AND {_IN_ESCROW}), 0)
              AS escrow_refunds
        FROM {LedgerEntry._meta.db_table} AS e
        JOIN {Transaction._meta.db_table} AS t ON t.id = e.transaction_id
        WHERE t.seller_id = %(seller)s AND e.kind = ANY(%(kinds)s)
        GROUP BY t.currency
    )
    SELECT s.currency, s.escrow_payouts - coalesce(m.escrow_refunds, 0), coalesce(m.paid_out, 0),
        coalesce(m.refunded, 0), s.sales_count, s.waiting_count
    FROM sales AS s LEFT JOIN money AS m ON m.currency = s.currency
    ORDER BY s.currency
"""  # noqa: S608 - table names and fixed conditions only; values are parameters


SUMMARY_CACHE_SECONDS = 60


def seller_summary_key(seller_id) -> str:
    return f"payments:seller-summary:{seller_id}"


def seller_sales_summary(*, seller) -> list[CurrencySummary]:
    """The seller's money per currency (alphabetical): in escrow (payouts of paid sales not
    released, less their refunds), paid out and refunded (from the ledger), the number of
    sales and of those waiting for a payout past their escrow date. Empty for a seller
    without sales.

    One query whose cost grows with the seller's history (every ledger row of their sales:
    about half a second for a seller with 50,000 sales, see bench/README.md), so it is cached
    in Redis for ``SUMMARY_CACHE_SECONDS``; every booked movement or status change of one of
    the seller's sales forgets it once committed (``payments.services``). Only "waiting"
    (escrow dates passing with no write) can lag that long.
    """
    key = seller_summary_key(seller.pk)
    cached = cache.get(key)
    if cached is None:
        cached = _seller_sales_summary(seller)
        cache.set(key, cached, SUMMARY_CACHE_SECONDS)
    return cached


def _seller_sales_summary(seller) -> list[CurrencySummary]:
    params = {
        "seller": seller.pk,
        "now": timezone.now(),
        "transfer": LedgerKind.TRANSFER.value,
        "refund": LedgerKind.REFUND.value,
        "deductions": list(_TRANSFER_DEDUCTIONS),
        "kinds": [LedgerKind.TRANSFER.value, LedgerKind.REFUND.value, *_TRANSFER_DEDUCTIONS],
    }
    with connection.cursor() as cursor:
        cursor.execute(_SUMMARY_SQL, params)
        return [
            CurrencySummary(currency, in_escrow, paid_out, refunded, count, waiting)
            for currency, in_escrow, paid_out, refunded, count, waiting in cursor.fetchall()
        ]


def seller_recent_sales(*, seller, limit: int = 5) -> list[Transaction]:
    """The seller's ``limit`` newest sales, listing and buyer joined: one query."""
    return list(_seller_sales(seller).order_by("-created_at", "-id")[:limit])


def buyer_orders_page(*, buyer, cursor: str | None, limit: int = BUYER_ORDERS_PAGE_SIZE):
    """The buyer's purchases, newest first (keyset, signed cursor), each with its listing and
    seller joined and ``refunded_cents`` from the ledger: one query."""
    orders = (
        Transaction.objects.filter(buyer_id=buyer.pk)
        .select_related("listing", "seller")
        .defer(*_HEAVY_FIELDS)
        .annotate(refunded_cents=_refunded())
    )
    return newest_first_page(
        orders, field="created_at", cursor=cursor, salt=BUYER_ORDERS_CURSOR_SALT, limit=limit
    )
