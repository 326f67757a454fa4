"""Reads of the payments app: the order page's fetch-and-check (:func:`access_transaction`) and
what its viewer may do (:func:`order_capabilities`), the buyer's orders, and for the seller's
pages the sales page, its summary per currency, and the dashboard's most recent sales.

Money a sale has actually moved (refunded, paid out) is read from the append-only ledger,
never from the transaction's own columns: those say what the sale was priced at, the ledger
says what happened. Every figure comes from ``payments.ledger`` (one definition each); on
lists it is a correlated subquery on the page's own query, so a page costs the same number of
queries whatever it holds.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import AccountStatus
from marketplace.pagination import StatusTab, newest_first_page
from payments import ledger, payouts
from payments.connect import PayoutStatus, seller_payout_status
from payments.ledger import (
    PAID_OUT,
    REFUNDED,
    SELLER_DEBT,
    TransactionFigures,
    seller_summary_key,
    transaction_figures,
)
from payments.models import LedgerEntry, Transaction, TransactionStatus

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
    # Transactions, listing and buyer joined, each with ``refunded_cents``, ``paid_out_cents``,
    # ``owed_cents`` (ledger figures) and ``payout_wait_reason`` (a message, or ""): the payout
    # hold (``payout_hold_reason``) on any sale in escrow, else why a due payout waits.
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
    in_escrow_cents: int  # paid sales not released yet: their payout due (payout less refunds)
    paid_out_cents: int  # ledger.PAID_OUT: transfers to the seller less reversals
    refunded_cents: int  # ledger.REFUNDED
    sales_count: int  # every transaction in this currency, whatever its status
    waiting_count: int  # paid sales past their escrow date that are not released
    owed_cents: int = 0  # ledger.SELLER_DEBT: what Stripe would not pull back from the seller


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
    sales = _seller_sales(seller).annotate(
        refunded_cents=REFUNDED.subquery(),
        paid_out_cents=PAID_OUT.subquery(),
        owed_cents=SELLER_DEBT.subquery(),
    )
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
        held = payout_hold_reason(sale, seller=seller)
        if held:
            sale.payout_wait_reason = held
        elif waiting:
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
# refunded, refunded from sales still in escrow, and is owed by the seller (ledger figures).
# Two grouped scans joined on currency, instead of ledger subqueries per sale.
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
            {PAID_OUT.sql("e")} AS paid_out,
            {REFUNDED.sql("e")} AS refunded,
            {REFUNDED.sql("e", where=_IN_ESCROW)} AS escrow_refunds,
            {SELLER_DEBT.sql("e")} AS owed
        FROM {LedgerEntry._meta.db_table} AS e
        JOIN {Transaction._meta.db_table} AS t ON t.id = e.transaction_id
        WHERE t.seller_id = %(seller)s AND e.kind = ANY(%(kinds)s)
        GROUP BY t.currency
    )
    SELECT s.currency, s.escrow_payouts - coalesce(m.escrow_refunds, 0), coalesce(m.paid_out, 0),
        coalesce(m.refunded, 0), s.sales_count, s.waiting_count, coalesce(m.owed, 0)
    FROM sales AS s LEFT JOIN money AS m ON m.currency = s.currency
    ORDER BY s.currency
"""  # noqa: S608 - table names and fixed conditions only; values are parameters


SUMMARY_CACHE_SECONDS = 60


def seller_sales_summary(*, seller) -> list[CurrencySummary]:
    """The seller's money per currency (alphabetical): in escrow (payouts of paid sales not
    released, less their refunds), paid out and refunded (from the ledger), the number of
    sales and of those waiting for a payout past their escrow date. Empty for a seller
    without sales.

    One query whose cost grows with the seller's history (every ledger row of their sales:
    about half a second for a seller with 50,000 sales, see bench/README.md), so it is cached
    in Redis for ``SUMMARY_CACHE_SECONDS``; every booked movement or status change of one of
    the seller's sales forgets it once committed (``payments.ledger.seller_money_changed``). Only "waiting"
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
        "kinds": list({*PAID_OUT.kinds, *REFUNDED.kinds, *SELLER_DEBT.kinds}),
    }
    with connection.cursor() as cursor:
        cursor.execute(_SUMMARY_SQL, params)
        return [
            CurrencySummary(currency, in_escrow, paid_out, refunded, count, waiting, owed)
            for currency, in_escrow, paid_out, refunded, count, waiting, owed in cursor.fetchall()
        ]


@dataclass
class SellerSalesOverview:
    """Everything the sales page shows: one tab's page, the summary per currency, and the
    seller's payout status (why sales wait)."""

    page: SellerSalesPage
    summary: list[CurrencySummary]
    payout_status: PayoutStatus


def seller_sales_overview(*, seller, status: str | None, cursor: str | None) -> SellerSalesOverview:
    """The sales page's reads (see :func:`seller_sales_page` and :func:`seller_sales_summary`);
    the payout status is read once (Redis-cached) and shared by both."""
    payout_status = seller_payout_status(user=seller)
    return SellerSalesOverview(
        page=seller_sales_page(seller=seller, status=status, cursor=cursor, payout_status=payout_status),
        summary=seller_sales_summary(seller=seller),
        payout_status=payout_status,
    )


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
        .annotate(refunded_cents=REFUNDED.subquery())
    )
    return newest_first_page(
        orders, field="created_at", cursor=cursor, salt=BUYER_ORDERS_CURSOR_SALT, limit=limit
    )


# --- Have two people traded? ------------------------------------------------------------------------
# A transaction that was paid, whatever became of it later: contact details once shared after a
# purchase stay shared (messaging's masking), a refund does not take them back.
PAID_STATUSES = (
    TransactionStatus.PROCESSING,
    TransactionStatus.COMPLETED,
    TransactionStatus.DISPUTED,
    TransactionStatus.REFUNDED,
)


def paid_between(user_a, user_b) -> QuerySet:
    """Paid transactions between two users, either one the buyer. ``user_a``/``user_b``: users,
    ids, or ``OuterRef`` expressions (for a correlated ``Exists`` on a list of pairs)."""
    return Transaction.objects.filter(
        Q(buyer=user_a, seller=user_b) | Q(buyer=user_b, seller=user_a), status__in=PAID_STATUSES
    )


def parties_have_paid(user_a, user_b) -> bool:
    """Whether the two users have a paid transaction together, either way round (one query)."""
    return paid_between(user_a, user_b).exists()


# --- One order: who may see it, and what they may do ----------------------------------------------
OrderRole = Literal["buyer", "seller", "party", "refunder"]
_ORDER_ROLES = ("buyer", "seller", "party", "refunder")


def access_transaction(user, transaction_id, *, as_: OrderRole) -> Transaction:
    """The transaction ``transaction_id`` if ``user`` may see it as ``as_``, else ``Http404``:
    a transaction that is not theirs answers exactly like one that does not exist.

    ``as_``: "buyer" (its buyer), "seller" (its seller), "party" (buyer, seller or staff: the
    order page), "refunder" (seller or staff: the people :func:`may_refund` asks about; staff
    without the refund permission may see the order, so they are let in here and refused
    with 403 by the caller, not 404). One query, listing,
    buyer and seller joined. An anonymous user or a malformed id gets ``Http404`` too; an
    unknown ``as_`` is a programming error (``ValueError``).
    """
    if as_ not in _ORDER_ROLES:
        raise ValueError(f"as_ must be one of {_ORDER_ROLES}, not {as_!r}.")
    if user is None or not user.is_authenticated:
        raise Http404("No such order.")
    found = Transaction.objects.select_related("listing", "buyer", "seller").defer("listing__search_vector")
    if not (as_ in ("party", "refunder") and user.is_staff):
        allowed = {
            "buyer": Q(buyer_id=user.pk),
            "seller": Q(seller_id=user.pk),
            "party": Q(buyer_id=user.pk) | Q(seller_id=user.pk),
            "refunder": Q(seller_id=user.pk),
        }[as_]
        found = found.filter(allowed)
    try:
        txn = found.filter(pk=transaction_id).first()
    except (ValidationError, ValueError):
        txn = None
    if txn is None:
        raise Http404("No such order.")
    return txn


REFUND_PERMISSION = "payments.refund_transaction"
RELEASE_HELD_PERMISSION = "payments.release_held_payout"
RefundAuthority = Literal["seller", "staff"]


def refund_authority(actor, transaction: Transaction) -> RefundAuthority | None:
    """By what right ``actor`` may refund the purchase, the one rule: "seller" (its seller: a
    seller may always give their buyer's money back), "staff" (a staff member with the
    ``payments.refund_transaction`` permission; superusers have it: a staff refund needs a
    reason, and may book a seller debt), or None (the buyer asks the seller; anyone else,
    staff without the permission included, may not). ``None`` is no person: the system
    books the refunds Stripe reports (``services.transaction_refund`` with ``actor=SYSTEM``)
    but never issues one. The permission check reads the actor's permissions once per user
    object (Django caches them on it; none for a superuser)."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    if transaction.seller_id == actor.pk:
        return "seller"
    if actor.is_staff and actor.has_perm(REFUND_PERMISSION):
        return "staff"
    return None


def may_refund(actor, transaction: Transaction) -> bool:
    """``actor`` may refund the purchase (:func:`refund_authority`)."""
    return refund_authority(actor, transaction) is not None


def may_release_held_payout(actor) -> bool:
    """Staff with ``payments.release_held_payout`` (superusers have it) may pay out a payout
    held for a seller not in good standing."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return actor.is_staff and actor.has_perm(RELEASE_HELD_PERMISSION)


# --- Payouts held for sellers not in good standing ---------------------------------------------
PAYOUT_HELD_MESSAGE = "Payout held: the seller's account is {status}; staff review it."
# The transactions whose payout is not released yet (paid, in escrow).
_AWAITING_PAYOUT = Q(status=TransactionStatus.PROCESSING, escrow_released_at__isnull=True)


def seller_in_good_standing(seller) -> bool:
    """A seller may be paid: their account is active (not suspended, not banned)."""
    return seller.account_status == AccountStatus.ACTIVE


def payout_hold_reason(transaction: Transaction, seller=None) -> str:
    """Why the payout of ``transaction`` is held for staff, or "": the one rule for the order
    page, the sales page, ``release_escrow`` and ``reconcile``. A payout is held while it is
    not released (paid, in escrow) and the seller is not in good standing. ``seller``: the
    seller's row if the caller has a fresher one (``transaction.seller`` otherwise: joined by
    ``access_transaction``, one query if not)."""
    if transaction.status != TransactionStatus.PROCESSING or transaction.escrow_released_at is not None:
        return ""
    seller = seller or transaction.seller
    if seller_in_good_standing(seller):
        return ""
    return PAYOUT_HELD_MESSAGE.format(status=AccountStatus(seller.account_status).label.lower())


def held_payouts(*, now: datetime | None = None) -> list[Transaction]:
    """Payouts due (escrow date passed) and held because the seller is not in good standing,
    oldest due first, seller joined, each with ``hold_reason`` (:func:`payout_hold_reason`) and
    ``payout_due_cents`` (what release would transfer: ``ledger.payout_due_of``).
    One query (``txn_escrow_due``)."""
    now = now or timezone.now()
    rows = list(
        Transaction.objects.filter(_AWAITING_PAYOUT, escrow_release_date__lte=now)
        .exclude(seller__account_status=AccountStatus.ACTIVE)
        .annotate(refunded_cents=ledger.REFUNDED.subquery())
        .select_related("seller")
        .only(
            "id",
            "status",
            "escrow_released_at",
            "escrow_release_date",
            "seller_payout_cents",
            "currency",
            "seller__id",
            "seller__email",
            "seller__account_status",
        )
        .order_by("escrow_release_date", "id")
    )
    for row in rows:
        row.hold_reason = payout_hold_reason(row)
        row.payout_due_cents = ledger.payout_due_of(row.seller_payout_cents, row.refunded_cents)
    return rows


def receipt_confirmable(transaction: Transaction) -> bool:
    """The buyer may confirm receipt: paid, in escrow, not confirmed yet."""
    return (
        transaction.status == TransactionStatus.PROCESSING
        and transaction.escrow_released_at is None
        and not transaction.metadata.get("receipt_confirmed_at")
    )


def refundable(transaction: Transaction) -> bool:
    """The purchase is paid, so it can be refunded: processing or completed."""
    return transaction.status in (TransactionStatus.PROCESSING, TransactionStatus.COMPLETED)


@dataclass(frozen=True)
class OrderCapabilities:
    """What one user may do on the order page of one transaction (amounts in cents)."""

    is_buyer: bool
    is_seller: bool
    is_staff: bool
    can_pay: bool  # the buyer, while unpaid
    can_confirm_receipt: bool  # the buyer, paid and in escrow, receipt not confirmed yet
    can_refund: bool  # the seller, or staff with the permission (may_refund), while paid (refundable)
    refund_remaining_cents: int = 0  # a refund in full: what remains of the charge
    refund_partial_max_cents: int = 0  # partial refunds: at most what remains of the seller payout
    refund_after_release: bool = False  # a refund now is pulled back from the seller's transfer
    refund_as_staff: bool = False  # a staff refund (refund_authority): a reason is required
    payout_hold_reason: str = ""  # payout_hold_reason: why the seller's payout is held, or ""
    can_release_held_payout: bool = False  # staff with the permission, while the payout is held

    @property
    def sees_payout(self) -> bool:
        """The seller's side of the money (fee, payout, paid out, owed): all but the buyer."""
        return not self.is_buyer


def order_capabilities(
    user, transaction: Transaction, *, figures: TransactionFigures | None = None
) -> OrderCapabilities:
    """What ``user`` may do with ``transaction``: the one predicate the order view, its template
    and the services ask. ``figures`` (``ledger.transaction_figures``) gives the refund limits;
    read (one query) only when the user may refund and it is not given."""
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    is_buyer = authenticated and transaction.buyer_id == user.pk
    authority = refund_authority(user, transaction) if refundable(transaction) else None
    can_refund = authority is not None
    limits = {}
    if can_refund:
        figures = figures or transaction_figures(transaction)
        limits = {
            "refund_remaining_cents": figures.refund_remaining,
            "refund_partial_max_cents": figures.refund_partial_max,
            "refund_after_release": transaction.escrow_released_at is not None,
            "refund_as_staff": authority == "staff",
        }
    # The buyer is not told about the seller's standing; everyone else who sees the order is.
    hold_reason = "" if is_buyer or not authenticated else payout_hold_reason(transaction)
    return OrderCapabilities(
        is_buyer=is_buyer,
        is_seller=authenticated and transaction.seller_id == user.pk,
        is_staff=authenticated and user.is_staff,
        can_pay=is_buyer and transaction.status == TransactionStatus.PENDING,
        can_confirm_receipt=is_buyer and receipt_confirmable(transaction),
        can_refund=can_refund,
        payout_hold_reason=hold_reason,
        can_release_held_payout=bool(hold_reason) and may_release_held_payout(user),
        **limits,
    )


@dataclass(frozen=True)
class OrderPage:
    """The order page's reads: every amount from the ledger, what the viewer may do, and the
    status timeline (label, aware datetime), oldest first."""

    figures: TransactionFigures
    capabilities: OrderCapabilities
    history: list[dict]
    payouts_simulated: bool  # test mode: the Connect gateway is simulated, no money moves


def order_page(*, user, transaction: Transaction) -> OrderPage:
    """What the order page shows ``user`` (already allowed: ``access_transaction(as_="party")``).
    One query (the ledger totals)."""
    figures = transaction_figures(transaction)
    history = [
        {"status": TransactionStatus(entry["status"]).label, "at": datetime.fromisoformat(entry["at"])}
        for entry in transaction.metadata.get("history", [])
        if entry.get("status") in TransactionStatus.values
    ]
    return OrderPage(
        figures=figures,
        capabilities=order_capabilities(user, transaction, figures=figures),
        history=history,
        payouts_simulated=settings.STRIPE_CONNECT_SIMULATED,
    )


# --- Account deletion (asked by privacy.services.account_delete) ----------------------------
# A transaction in these states is still in progress: money is moving or may still move.
OPEN_STATUSES = (TransactionStatus.PENDING, TransactionStatus.PROCESSING, TransactionStatus.DISPUTED)


def member_deletion_refusal(*, user) -> str | None:
    """Why ``user`` may not delete their account yet, or None. Two queries.

    Refused while a purchase or sale is not final (pending, paid in escrow, disputed): the
    other party and the platform still need the account; and while the member owes the
    platform money as a seller (``ledger.SELLER_DEBT`` over their sales, net of nothing: a
    debt is settled by staff outside the ledger, who then delete the account on request).
    """
    open_order = (
        Transaction.objects.filter(Q(buyer_id=user.pk) | Q(seller_id=user.pk), status__in=OPEN_STATUSES)
        .order_by("created_at")
        .values_list("status", flat=True)
        .first()
    )
    if open_order is not None:
        return (
            "You have an order in progress (" + TransactionStatus(open_order).label.lower() + "). "
            "You can delete your account once every purchase and sale is completed, cancelled or refunded."
        )
    owed = (
        LedgerEntry.objects.filter(transaction__seller_id=user.pk, kind__in=ledger.SELLER_DEBT.kinds)
        .aggregate(total=ledger.SELLER_DEBT.aggregate())["total"]
    )
    if owed:
        return (
            "You owe the platform money from a refunded sale. Contact support to settle it; "
            "then your account can be deleted."
        )
    return None
