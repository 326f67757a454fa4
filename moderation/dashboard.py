"""The staff dashboard's figures: the marketplace's vital signs per day over the last 30 and
90 days.

Each figure is one aggregate query over the 90-day window (the 30-day view is its tail), all
cached together for ``STAFF_DASHBOARD_CACHE_SECONDS``. Money comes from the ledger through
``payments.ledger``'s figures (the one formula per money figure): GMV is ``PAID`` (what buyers
were charged), platform fee revenue ``PLATFORM_FEE`` (net of fees returned with full refunds),
refunds ``REFUNDED``, disputes ``DISPUTED``, each per currency (amounts of different currencies
are never added). Orders are charges booked; days are UTC calendar days (``TruncDate``).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from listings.models import Listing
from moderation.models import Report, ReportStatus
from payments.ledger import DISPUTED, PAID, PLATFORM_FEE, REFUNDED
from payments.models import LedgerEntry, LedgerKind

WINDOWS = (30, 90)
TOP_CATEGORIES = 10
CACHE_KEY = "staff_dashboard:v1"


@dataclass
class Series:
    """A figure per day, oldest first: ``values[i]`` is the figure of ``days[i]``."""

    name: str
    unit: str  # "count", or a currency code (minor units)
    days: list[date]
    values: list[int]

    def last(self, n: int) -> "Series":
        return Series(self.name, self.unit, self.days[-n:], self.values[-n:])

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass
class Dashboard:
    today: date
    counts: dict[str, Series] = field(default_factory=dict)  # signups, listings, orders, refunds, ...
    money: dict[str, dict[str, Series]] = field(default_factory=dict)  # currency -> figure -> series
    open_reports: int = 0
    top_categories: list[dict] = field(default_factory=list)  # name, orders_30, orders_90


def _days(today: date, n: int) -> list[date]:
    return [today - timedelta(days=n - 1 - i) for i in range(n)]


def _series(name: str, unit: str, days: list[date], rows: dict[date, int]) -> Series:
    return Series(name, unit, days, [int(rows.get(day, 0) or 0) for day in days])


def _per_day(queryset, field_name: str, since) -> dict[date, int]:
    """``{day: rows}`` of ``queryset`` whose ``field_name`` is on or after ``since``: one query."""
    rows = (
        queryset.filter(**{f"{field_name}__gte": since})
        .annotate(day=TruncDate(field_name))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["day"]: row["n"] for row in rows}


def dashboard_figures(*, now=None) -> Dashboard:
    """Compute every figure (six queries); see the module docstring."""
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    span = max(WINDOWS)
    days = _days(today, span)
    since = datetime.combine(days[0], time.min, tzinfo=UTC)
    board = Dashboard(today=today)

    board.counts["signups"] = _series(
        "Sign-ups", "count", days, _per_day(User.objects.all(), "created_at", since)
    )
    board.counts["listings"] = _series(
        "New listings", "count", days, _per_day(Listing.objects.all(), "created_at", since)
    )
    board.counts["reports"] = _series(
        "Reports filed", "count", days, _per_day(Report.objects.all(), "created_at", since)
    )

    # The ledger: orders, refunds and disputes counted, and every money figure, per day and
    # currency, in one query.
    ledger_rows = list(
        LedgerEntry.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "currency")
        .annotate(
            orders=Count("pk", filter=Q(kind=LedgerKind.CHARGE)),
            refunds=Count("pk", filter=Q(kind=LedgerKind.REFUND)),
            disputes=Count("pk", filter=Q(kind=LedgerKind.DISPUTE)),
            gmv=PAID.aggregate(),
            fees=PLATFORM_FEE.aggregate(),
            refunded=REFUNDED.aggregate(),
            disputed=DISPUTED.aggregate(),
        )
        .order_by()
    )
    for key, label in (("orders", "Orders"), ("refunds", "Refunds"), ("disputes", "Disputes")):
        per_day: dict[date, int] = {}
        for row in ledger_rows:
            per_day[row["day"]] = per_day.get(row["day"], 0) + row[key]
        board.counts[key] = _series(label, "count", days, per_day)
    currencies = sorted({row["currency"] for row in ledger_rows})
    for currency in currencies:
        mine = [row for row in ledger_rows if row["currency"] == currency]
        board.money[currency] = {
            key: _series(label, currency, days, {row["day"]: row[key] for row in mine})
            for key, label in (
                ("gmv", "GMV"),
                ("fees", "Platform fee revenue"),
                ("refunded", "Refunded"),
                ("disputed", "Disputed"),
            )
        }

    board.open_reports = Report.objects.filter(status=ReportStatus.OPEN).count()

    since_30 = now - timedelta(days=30)
    board.top_categories = list(
        LedgerEntry.objects.filter(kind=LedgerKind.CHARGE, created_at__gte=since)
        .values("transaction__listing__category__name")
        .annotate(
            orders_90=Count("pk"),
            orders_30=Count("pk", filter=Q(created_at__gte=since_30)),
        )
        .order_by("-orders_90", "transaction__listing__category__name")[:TOP_CATEGORIES]
    )
    for row in board.top_categories:
        row["name"] = row.pop("transaction__listing__category__name") or "(none)"
    return board


def dashboard_cached(*, now=None) -> Dashboard:
    """``dashboard_figures``, cached for ``STAFF_DASHBOARD_CACHE_SECONDS`` (figures a few minutes
    old are fine for vital signs; the page then costs no query)."""
    board = cache.get(CACHE_KEY)
    if board is None:
        board = dashboard_figures(now=now)
        cache.set(CACHE_KEY, board, settings.STAFF_DASHBOARD_CACHE_SECONDS)
    return board
