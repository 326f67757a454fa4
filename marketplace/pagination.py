"""Keyset pagination on (timestamp, id), newest first, with signed cursors."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.core import signing
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan


@dataclass
class StatusTab:
    """One tab of a list filtered by status (the seller's listings, their sales), with its count."""

    status: str
    label: str
    count: int
    current: bool


@dataclass
class KeysetPage:
    rows: list
    next_cursor: str | None
    cursor_invalid: bool = False


def newest_first_page(
    queryset: QuerySet, *, field: str, cursor: str | None, salt: str, limit: int, scope: str = ""
) -> KeysetPage:
    """One page of ``queryset`` ordered by (``field``, id) descending, after ``cursor``.

    The cursor is signed with ``salt`` and carries ``scope`` (e.g. a status tab), so a
    cursor of another list or scope is refused; a refused or tampered cursor gives the first
    page with ``cursor_invalid`` set. One query: ``limit + 1`` rows tell whether more follow.
    """
    queryset = queryset.order_by(f"-{field}", "-id")
    cursor_invalid = False
    if cursor:
        try:
            after = signing.loads(cursor, salt=salt)
            if after.get("s", "") != scope:
                raise ValueError("cursor of another scope")
            after_value, after_id = datetime.fromisoformat(after["t"]), uuid.UUID(after["id"])
        except (signing.BadSignature, KeyError, TypeError, ValueError, AttributeError):
            cursor_invalid = True
        else:
            # A row comparison, not "field < t OR (field = t AND id < i)": PostgreSQL turns it
            # into an index bound on ``field``, so a deep page does not read the pages before it.
            queryset = queryset.filter(TupleLessThan(Tuple(F(field), F("id")), (after_value, after_id)))
    rows = list(queryset[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = signing.dumps(
            {"s": scope, "t": getattr(last, field).isoformat(), "id": str(last.id)}, salt=salt
        )
    return KeysetPage(rows=rows, next_cursor=next_cursor, cursor_invalid=cursor_invalid)
