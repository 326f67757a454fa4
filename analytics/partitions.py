"""Monthly partitions of ``analytics_event``: create ahead, move strays, retire the old.

Partitions are named ``analytics_event_pYYYY_MM`` and hold ``[month start, next month
start)`` in UTC. Rows whose month has no partition land in ``analytics_event_default``;
creating that month moves them out. Every change runs under an advisory lock, so two runs at
once are safe, and each month is one transaction.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.db import connection, transaction
from django.utils import timezone

PARENT = "analytics_event"
DEFAULT_PARTITION = "analytics_event_default"
NAME_PATTERN = re.compile(r"^analytics_event_p(\d{4})_(\d{2})$")
# pg_advisory_lock key: the bytes of "events" read as an integer.
ADVISORY_LOCK_KEY = int.from_bytes(b"events", "big")


@dataclass
class PartitionReport:
    created: list[str] = field(default_factory=list)
    moved_rows: dict[str, int] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)
    purged_default_rows: int = 0


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + (month.month - 1) + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_p{month:%Y_%m}"


def _bound(month: date) -> str:
    return datetime(month.year, month.month, 1, tzinfo=UTC).isoformat()


def existing_partitions() -> dict[date, str]:
    """Monthly partitions currently attached to the parent, by month."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT child.relname FROM pg_inherits
            JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
            JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE parent.relname = %s
            """,
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = {}
    for name in names:
        match = NAME_PATTERN.match(name)
        if match:
            months[date(int(match[1]), int(match[2]), 1)] = name
    return months


def default_partition_months() -> dict[date, int]:
    """Months that have rows waiting in the DEFAULT partition, with their row counts."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date, count(*) "  # noqa: S608
            f"FROM {DEFAULT_PARTITION} GROUP BY 1"
        )
        return dict(cursor.fetchall())


def _create_month(month: date) -> int:
    """Create and attach ``month``'s partition, moving its rows out of DEFAULT.

    ``PARTITION OF`` is refused while DEFAULT holds rows of the range, so the table is made
    standalone, filled from DEFAULT, then attached. DEFAULT is locked first so that no row of
    the range can arrive between the move and the attach (which re-checks DEFAULT).
    """
    name = partition_name(month)
    lower, upper = _bound(month), _bound(add_months(month, 1))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "  # noqa: S608
            f"WHERE created_at >= %s AND created_at < %s RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved",
            [lower, upper],
        )
        moved = cursor.rowcount
        cursor.execute(
            f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [lower, upper]
        )
    return moved


def _retire(name: str, action: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        if action == "detach":
            cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
        else:
            cursor.execute(f"DROP TABLE {name}")


def maintain_partitions(
    *, months_ahead: int, retention_months: int, action: str = "drop", dry_run: bool = False, now=None
) -> PartitionReport:
    """Create partitions from the oldest retained month with data through ``months_ahead``
    months from now; retire (drop or detach) those entirely older than ``retention_months``.

    With ``action="drop"``, rows older than retention waiting in DEFAULT are deleted too.
    """
    if months_ahead < 0 or retention_months < 1:
        raise ValueError("months_ahead must be >= 0 and retention_months >= 1.")
    if action not in ("drop", "detach"):
        raise ValueError("action must be 'drop' or 'detach'.")
    current = month_start(now or timezone.now())
    cutoff = add_months(current, -retention_months)
    horizon = add_months(current, months_ahead)
    report = PartitionReport()

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
    try:
        existing = existing_partitions()
        waiting = default_partition_months()
        wanted = {add_months(current, offset) for offset in range(months_ahead + 1)}
        wanted |= {month for month in waiting if cutoff <= month <= horizon}
        for month in sorted(wanted - set(existing)):
            name = partition_name(month)
            report.created.append(name)
            report.moved_rows[name] = waiting.get(month, 0) if dry_run else _create_month(month)
        for month, name in sorted(existing.items()):
            if add_months(month, 1) <= cutoff:
                report.retired.append(name)
                if not dry_run:
                    _retire(name, action)
        if action == "drop":
            stale = sum(count for month, count in waiting.items() if month < cutoff)
            report.purged_default_rows = stale
            if stale and not dry_run:
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"DELETE FROM {DEFAULT_PARTITION} WHERE created_at < %s",  # noqa: S608
                        [_bound(cutoff)],
                    )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
    return report
