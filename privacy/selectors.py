"""Reads of the privacy app: a member's exports and the one access check for a download."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.http import Http404
from django.utils import timezone

from privacy.models import DataExport, DataExportStatus

EXPORT_WINDOW = timedelta(hours=24)
RECENT_EXPORTS = 5


def data_export_retry_after(*, user, now: datetime | None = None) -> int:
    """Seconds until ``user`` may ask for another export (0: now). Requests in the last 24 hours
    count, except failed builds. One query."""
    now = now or timezone.now()
    recent = list(
        DataExport.objects.filter(user_id=user.pk, created_at__gt=now - EXPORT_WINDOW)
        .exclude(status=DataExportStatus.FAILED)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[: settings.DATA_EXPORT_PER_DAY]
    )
    if len(recent) < settings.DATA_EXPORT_PER_DAY:
        return 0
    return max(int((recent[-1] + EXPORT_WINDOW - now).total_seconds()) + 1, 1)


def recent_data_exports(*, user) -> list[DataExport]:
    """The member's latest exports, newest first (one query)."""
    return list(DataExport.objects.filter(user_id=user.pk).order_by("-created_at")[:RECENT_EXPORTS])


def access_data_export(user, export_id) -> DataExport:
    """The ready, unexpired export ``export_id`` of ``user``; ``Http404`` otherwise, exactly as
    for an id that does not exist (someone else's, pending, expired)."""
    if not user.is_authenticated:
        raise Http404("No such export.")
    export = (
        DataExport.objects.filter(
            pk=export_id, user_id=user.pk, status=DataExportStatus.READY, expires_at__gt=timezone.now()
        )
        .only("id", "file", "expires_at")
        .first()
    )
    if export is None:
        raise Http404("No such export.")
    return export
