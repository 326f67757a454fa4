"""The money ledger of a transaction: the writer, the totals, and the one formula per figure.

Every ledger row is written in the same database transaction as the change it belongs to
(:func:`ledger_write`, under the transaction's row lock); amounts are positive minor units
(cents) of the transaction's currency, the kind gives the direction (``LedgerKind``); the
table is append-only (a trigger refuses UPDATE and DELETE).

Money rules (the services book them):

- Paid: ``charge`` = total and ``platform_fee`` = fee. The money is held in escrow.
- Released: ``transfer`` = seller payout less any partial refunds made before release.
- Partial refunds come out of the seller's share: the platform keeps its fee, and all
  partial refunds together may not exceed the seller payout (refund in full instead).
- A full refund (what remains of the charge) returns the platform fee too
  (``platform_fee_reversal``).
- A lost dispute is settled like a full refund (the card network took the money back);
  a won dispute books the returned funds (``dispute_won``).
- After release, a refund asked for here first pulls the seller's part back from their
  transfer (``transfer_reversal``) and only then refunds the buyer; when Stripe refuses the
  reversal the refund is refused, unless staff refund anyway and book what the seller owes
  (``seller_debt``). A refund or a lost dispute that Stripe reports after release (made
  elsewhere) leaves the seller holding more than their share: ``transaction_reverse_due``
  pulls it back, or books the ``seller_debt`` when Stripe refuses, so the platform is never
  silently out of pocket. Until then ``reconcile`` reports the transaction.
- A payment that succeeds after its checkout was cancelled is refunded at once: the
  cancelled transaction books the ``charge`` and its ``refund``.

So for every settled transaction: charge = (transfers - reversals - seller debt) + platform
fees + refunds + disputes, each net of its reversals; ``manage.py reconcile`` checks it.

The figures. Each is defined once, as data (:class:`Figure`: the kinds it adds and those it
subtracts); the same definition gives the Python value from :func:`ledger_totals`
(``Figure.of``), the ORM expression the list pages annotate with (``Figure.subquery``) and
the SQL the summaries and ``reconcile`` aggregate with (``Figure.sql``), so a list page and
a detail page cannot disagree:

- ``PAID``: what the buyer was charged.
- ``PLATFORM_FEE``: the platform's fee, net of the fee returned with a full refund.
- ``REFUNDED``: what went back to the buyer.
- ``DISPUTED``: what the card network withdrew, net of disputes won.
- ``PAID_OUT``: money that actually moved to the seller: transfers less transfer reversals.
  A reversal Stripe refused moved nothing, so it does not reduce what was paid out; it is
  its own figure:
- ``SELLER_DEBT``: "owed by the seller", what Stripe would not pull back (shown where non-zero).
- ``SELLER_HOLDS``: paid out less what the seller owes: what the platform has neither pulled
  back nor claimed. ``reconcile`` balances with it, and the reversal due is what it exceeds
  the seller's share by.

And the figures that also need the transaction's own columns (:func:`transaction_figures`):
refund remaining (total less refunds), the partial-refund cap (seller payout less refunds),
the payout due at release (seller payout less refunds made before it), the seller's share
and the reversal due after release; and the reversal a refund needs before it is made
(:func:`refund_reversal_cents`, the same formula on the ledger as it will be).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from payments.models import LedgerEntry, LedgerKind, Transaction, TransactionStatus

Kind = LedgerKind
Status = TransactionStatus

LedgerLine = tuple[str, int, str]  # (kind, amount_cents, external_id)


def seller_summary_key(seller_id) -> str:
    """The cache key of the seller's sales summary (``selectors.seller_sales_summary``)."""
    return f"payments:seller-summary:{seller_id}"


def seller_money_changed(transaction: Transaction) -> None:
    """Forget the seller's cached sales summary once the current change commits: a new sale,
    a status change, a booked movement, an escrow date."""
    after_commit(cache.delete, seller_summary_key(transaction.seller_id))


def require_positive_cents(value, name: str) -> None:
    """``ServiceError`` (``INVALID``) unless ``value`` is a positive int (minor units)."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ServiceError(f"The {name} must be a positive amount in minor units.", code=ErrorCode.INVALID)


def ledger_write(transaction: Transaction, lines: Iterable[LedgerLine]) -> None:
    """Append ``lines`` (kind, amount in cents, external id) to the transaction's ledger.

    A zero amount writes no row; a negative one is a programming error (``ValueError``).
    The caller holds the transaction's row lock (``services.transaction_lock``).
    """
    entries = [
        LedgerEntry(
            transaction=transaction,
            kind=kind,
            amount_cents=amount,
            currency=transaction.currency,
            external_id=external_id or "",
        )
        for kind, amount, external_id in lines
        if amount  # nothing moved (a zero fee): no row
    ]
    if any(entry.amount_cents < 0 for entry in entries):
        raise ValueError("Ledger amounts are positive; the kind gives the direction.")
    LedgerEntry.objects.bulk_create(entries)
    if entries:
        seller_money_changed(transaction)


def ledger_totals(transaction: Transaction) -> dict[str, int]:
    """Sum of ledger amounts (cents) per kind for the transaction (every kind present, 0 if none)."""
    totals = dict.fromkeys(Kind.values, 0)
    rows = (
        LedgerEntry.objects.filter(transaction_id=transaction.pk)
        .values_list("kind")
        .annotate(total=Sum("amount_cents"))
        .order_by()
    )
    totals.update(dict(rows))
    return totals


# --- The figures --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    """A money figure of a transaction: the ledger amounts of the ``plus`` kinds less those of
    the ``minus`` kinds, in cents (0 without rows)."""

    name: str
    plus: tuple[str, ...]
    minus: tuple[str, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        return (*self.plus, *self.minus)

    def of(self, totals: dict[str, int]) -> int:
        """The figure from :func:`ledger_totals`."""
        return sum(totals[kind] for kind in self.plus) - sum(totals[kind] for kind in self.minus)

    def aggregate(self):
        """The figure as an aggregate over ``LedgerEntry`` rows (``Sum ... FILTER``)."""
        total = Coalesce(Sum("amount_cents", filter=Q(kind__in=self.plus)), 0)
        if self.minus:
            total = total - Coalesce(Sum("amount_cents", filter=Q(kind__in=self.minus)), 0)
        return total

    def subquery(self, transaction_ref: str = "pk") -> Coalesce:
        """The figure per row of a ``Transaction`` queryset (``.annotate(x=FIGURE.subquery())``):
        a correlated subquery on ``OuterRef(transaction_ref)``, so a page costs no extra query."""
        rows = (
            LedgerEntry.objects.filter(transaction_id=OuterRef(transaction_ref), kind__in=self.kinds)
            .order_by()
            .values("transaction_id")
            .annotate(total=self.aggregate())
            .values("total")
        )
        return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))

    def sql(self, alias: str = "e", where: str = "") -> str:
        """The figure as a raw SQL aggregate over ledger rows aliased ``alias`` (grouped by the
        caller), optionally restricted by the SQL condition ``where``. Kinds are this module's
        constants, never input, so they are inlined."""

        def part(kinds: tuple[str, ...]) -> str:
            listed = ", ".join(f"'{kind}'" for kind in kinds)
            condition = f"{alias}.kind IN ({listed})" + (f" AND ({where})" if where else "")
            return f"coalesce(sum({alias}.amount_cents) FILTER (WHERE {condition}), 0)"

        return part(self.plus) + (f" - {part(self.minus)}" if self.minus else "")


PAID = Figure("paid", plus=(Kind.CHARGE.value,))
PLATFORM_FEE = Figure(
    "platform_fee", plus=(Kind.PLATFORM_FEE.value,), minus=(Kind.PLATFORM_FEE_REVERSAL.value,)
)
REFUNDED = Figure("refunded", plus=(Kind.REFUND.value,))
DISPUTED = Figure("disputed", plus=(Kind.DISPUTE.value,), minus=(Kind.DISPUTE_WON.value,))
PAID_OUT = Figure("paid_out", plus=(Kind.TRANSFER.value,), minus=(Kind.TRANSFER_REVERSAL.value,))
SELLER_DEBT = Figure("seller_debt", plus=(Kind.SELLER_DEBT.value,))
SELLER_HOLDS = Figure(
    "seller_holds",
    plus=(Kind.TRANSFER.value,),
    minus=(Kind.TRANSFER_REVERSAL.value, Kind.SELLER_DEBT.value),
)
FIGURES = (PAID, PLATFORM_FEE, REFUNDED, DISPUTED, PAID_OUT, SELLER_DEBT, SELLER_HOLDS)


@dataclass(frozen=True)
class TransactionFigures:
    """Every money figure of one transaction, in cents of ``currency`` (see the module docstring)."""

    currency: str
    paid: int
    platform_fee: int
    platform_fee_returned: int  # the fee given back with a refund in full (or a lost dispute)
    refunded: int
    disputed: int
    paid_out: int
    seller_debt: int  # "owed by the seller"
    seller_holds: int
    refund_remaining: int  # what remains of the charge to refund: the total less refunds
    refund_partial_max: int  # what partial refunds may still take (from the seller's payout)
    payout_due: int  # what release transfers: the seller payout less refunds made before it
    seller_share: int  # what the seller keeps: 0 once refunded (or unpaid), else payout due
    reversal_due: int  # after release: what the seller holds beyond their share
    refunded_in_full: bool  # status refunded (a lost dispute too), or every cent charged refunded


def payout_due_of(seller_payout_cents: int, refunded_cents: int) -> int:
    """What escrow release transfers, in cents: the seller payout less the refunds made before
    it (partial refunds come out of the seller's share)."""
    return seller_payout_cents - refunded_cents


def _seller_share(transaction: Transaction, status: str, refunded: int) -> int:
    """What the seller keeps of a sale in ``status`` after ``refunded`` cents of refunds."""
    paid_and_kept = status in (Status.PROCESSING, Status.COMPLETED, Status.DISPUTED)
    return max(transaction.seller_payout_cents - refunded, 0) if paid_and_kept else 0


def transaction_figures(transaction: Transaction, totals: dict[str, int] | None = None) -> TransactionFigures:
    """The figures of ``transaction`` from ``totals`` (:func:`ledger_totals`; read when not given:
    one query). Whether a refund is allowed at all (the status, the person) is not a figure:
    ``selectors.order_capabilities`` and ``services.refund_amount_check`` decide it."""
    if totals is None:
        totals = ledger_totals(transaction)
    refunded = REFUNDED.of(totals)
    payout_due = payout_due_of(transaction.seller_payout_cents, refunded)
    share = _seller_share(transaction, transaction.status, refunded)
    holds = SELLER_HOLDS.of(totals)
    released = transaction.escrow_released_at is not None
    return TransactionFigures(
        currency=transaction.currency,
        paid=PAID.of(totals),
        platform_fee=PLATFORM_FEE.of(totals),
        platform_fee_returned=totals[Kind.PLATFORM_FEE_REVERSAL],
        refunded=refunded,
        disputed=DISPUTED.of(totals),
        paid_out=PAID_OUT.of(totals),
        seller_debt=SELLER_DEBT.of(totals),
        seller_holds=holds,
        refund_remaining=transaction.total_cents - refunded,
        refund_partial_max=max(transaction.seller_payout_cents - refunded, 0),
        payout_due=payout_due,
        seller_share=share,
        reversal_due=max(holds - share, 0) if released else 0,
        refunded_in_full=transaction.status == Status.REFUNDED or (0 < PAID.of(totals) <= refunded),
    )


def refund_reversal_cents(
    transaction: Transaction, amount_cents: int, totals: dict[str, int] | None = None
) -> int:
    """What must come back from the seller's transfer before refunding ``amount_cents`` more
    (cents): after release, what the seller would hold beyond their share once the refund is
    booked (a refund of everything that remains leaves them no share); 0 before release. The
    same formula as ``reversal_due``, on the ledger as it will be. ``totals``: :func:`ledger_totals`
    (read when not given: one query)."""
    if transaction.escrow_released_at is None:
        return 0
    if totals is None:
        totals = ledger_totals(transaction)
    refunded = REFUNDED.of(totals) + amount_cents
    status = Status.REFUNDED if refunded >= transaction.total_cents else transaction.status
    return max(SELLER_HOLDS.of(totals) - _seller_share(transaction, status, refunded), 0)


def platform_totals_sql() -> str:
    """SQL for every figure summed over the whole ledger, one row per currency (currency, then
    the ``FIGURES`` in order, then the row count): what a backup records and a restore checks."""
    columns = ", ".join(f"{figure.sql('e')} AS {figure.name}" for figure in FIGURES)
    return (
        f"SELECT e.currency, {columns}, count(*) AS entries "  # noqa: S608 - constants only
        "FROM payments_ledgerentry AS e GROUP BY e.currency ORDER BY e.currency"
    )
