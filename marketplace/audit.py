"""The staff audit log's one writer: ``audit_record``.

Every staff action (moderation, refunds and held payouts, account status and badges,
permission changes) calls it inside the transaction of its effect, once per object it
changes. The table refuses UPDATE and DELETE (a trigger), so the log is evidence.
"""

import datetime
import decimal
import uuid
from collections.abc import Mapping

from django.db import models

from marketplace.models import AuditEntry

REPR_MAX = 200


def _json_safe(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_safe(item) for item in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    return str(value)


def audit_record(
    *,
    actor,
    action: str,
    target: models.Model,
    reason: str = "",
    changes: Mapping[str, tuple] | None = None,
) -> AuditEntry:
    """Append one audit row: ``actor`` (a user, or None for the system) did ``action``
    (``"<app>.<verb>"``) to ``target`` (any saved model instance) for ``reason``.

    ``changes`` maps a field name to ``(before, after)``; values are stored JSON-safe
    (datetimes ISO 8601, UUIDs and decimals as text). Call it inside the atomic block of the
    action so the row commits or rolls back with it. Takes no lock.
    """
    if not action:
        raise ValueError("An audit row needs an action.")
    actor_id = (
        getattr(actor, "pk", None) if actor is not None and getattr(actor, "is_authenticated", True) else None
    )
    return AuditEntry.objects.create(
        actor_id=actor_id,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:REPR_MAX],
        reason=(reason or "").strip(),
        changes={
            field: [_json_safe(before), _json_safe(after)]
            for field, (before, after) in (changes or {}).items()
        },
    )
