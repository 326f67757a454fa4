"""Members' data: deleting an account, and "Download my data" (README "Your data").

Each app keeps the rules for its own data and this module composes them:
``payments.selectors.member_deletion_refusal`` (may the member go?),
``listings.services.listings_withdraw_member``, ``messaging.services.messaging_forget_member``,
``notifications.services.notifications_forget_member`` and ``accounts.services.user_anonymise``.
Every function raises only ``ServiceError``.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from procrastinate.contrib.django import app

from accounts.models import User
from accounts.services import user_anonymise
from alerts.services import alerts_forget_member
from analytics.models import Event
from listings.services import listings_withdraw_member
from marketplace.audit import audit_record
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.mail import queue_email
from marketplace.storage import private_storage
from messaging.services import messaging_forget_member
from notifications.models import NotificationType
from notifications.services import notifications_forget_member, notify
from offers.services import offers_close_for_member
from payments.selectors import member_deletion_refusal
from privacy.export import member_data
from privacy.models import DataExport, DataExportStatus
from privacy.selectors import data_export_retry_after

logger = logging.getLogger(__name__)

WRONG_PASSWORD_MESSAGE = "That is not your password. Nothing was deleted."  # noqa: S105 - a message
# Deferred by name: ``privacy.tasks`` imports this module, not the other way round.
BUILD_EXPORT_TASK = "privacy.build_data_export"
EXPORT_LIMIT_MESSAGE = "You can ask for one copy of your data a day. Try again in {wait}."


# --- Delete my account ---------------------------------------------------------------------
def _ensure_deletable(user: User) -> None:
    refusal = member_deletion_refusal(user=user)
    if refusal:
        raise ServiceError(refusal, code=ErrorCode.ACCOUNT_DELETION_BLOCKED)


def account_delete(*, user: User, password: str) -> User:
    """Delete ``user``'s account at their request, confirmed by their ``password``.

    Refused (``PASSWORD_INCORRECT``; ``ACCOUNT_DELETION_BLOCKED`` with the reason) and nothing
    changed while an order is in progress or the member owes money (checked under the user
    row's lock, and again once the member's listings are locked, so a purchase of one of them
    racing the deletion is either seen or refused by the archived listing). Otherwise, in one
    database transaction: listings archived and favorites
    deleted, live offers closed, saved searches and follows deleted, inbox state and
    notifications deleted, analytics events detached, data exports
    deleted, then the user row anonymised (login impossible, sessions ended). Kept with no
    personal data: orders, ledger and payouts (the rows refer to the anonymised user; the
    ledger is append-only and is not touched), messages (for the other party, from the
    "Deleted member"), reviews both ways. One audit row (``privacy.account_delete``).
    """
    if not user.is_authenticated or user.deleted_at is not None:
        raise ServiceError("This account is already deleted.", code=ErrorCode.NOT_FOUND)
    if not user.check_password(password or ""):
        raise ServiceError(WRONG_PASSWORD_MESSAGE, code=ErrorCode.PASSWORD_INCORRECT)
    exports: list[str] = []
    with transaction.atomic():
        # NO KEY UPDATE: serialises deletions of this account without blocking the foreign-key
        # checks of a purchase being written (FOR UPDATE would, and could deadlock with the
        # listing lock below).
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        _ensure_deletable(locked)
        archived = listings_withdraw_member(user=locked)
        # Again with the listings locked: a purchase that held one of them has committed by
        # now, and its order is seen (READ COMMITTED reads what committed before each query).
        _ensure_deletable(locked)
        messaging_forget_member(user=locked)
        offers_close_for_member(member=locked)
        alerts_forget_member(member=locked)
        notifications_forget_member(user=locked)
        # Analytics keeps its counts, not who: the events lose the user, session, IP and browser.
        Event.objects.filter(user_id=locked.pk).update(
            user=None, session_id=None, ip_address=None, user_agent=""
        )
        for export in DataExport.objects.filter(user_id=locked.pk).exclude(file=""):
            exports.append(export.file)
        DataExport.objects.filter(user_id=locked.pk).delete()
        user_anonymise(user=locked)
        # After anonymising: the audit row names the account by its placeholder, not its email.
        audit_record(
            actor=locked,
            action="privacy.account_delete",
            target=locked,
            reason="Deleted by the member",
            changes={"listings_archived": (None, archived)},
        )
        for name in exports:
            after_commit(private_storage().delete, name)
    logger.info("account %s deleted by its member (%s listings archived)", locked.pk, archived)
    return locked


# --- Download my data ----------------------------------------------------------------------
def _wait_message(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 60), 3600)
    minutes = rest // 60
    if hours:
        return f"{hours} hour{'s' if hours != 1 else ''}" + (f" {minutes} minutes" if minutes else "")
    return f"{minutes} minutes"


def data_export_request(*, user: User) -> DataExport:
    """Ask for a copy of ``user``'s data: a pending ``DataExport`` and its build job, deferred in
    the same transaction. At most ``DATA_EXPORT_PER_DAY`` requests per 24 hours (failed builds
    do not count): ``RATE_LIMITED`` past it. Locks the user row so two clicks at once cannot
    both pass the limit."""
    if not user.is_authenticated or user.deleted_at is not None:
        raise ServiceError("Log in first.", code=ErrorCode.LOGIN_REQUIRED)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).values_list("pk").get()
        retry_after = data_export_retry_after(user=user)
        if retry_after:
            raise ServiceError(
                EXPORT_LIMIT_MESSAGE.format(wait=_wait_message(retry_after)), code=ErrorCode.RATE_LIMITED
            )
        export = DataExport.objects.create(user=user)
        app.configure_task(BUILD_EXPORT_TASK, queueing_lock=f"privacy.export:{export.pk}").defer(
            export_id=str(export.pk)
        )
    return export


def export_path(export: DataExport) -> str:
    """The site path of the download view (access-checked: the owner only)."""
    return reverse("privacy:export_download", args=[export.pk])


def _zip(sections: dict[str, object]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sections.items():
            archive.writestr(
                f"{name}.json", json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
            )
        archive.writestr(
            "README.txt",
            "Your data at the marketplace, one JSON file per section. Amounts are in minor units "
            "(cents) of their currency; times are UTC (ISO 8601).\n",
        )
    return buffer.getvalue()


def data_export_build(*, export_id) -> DataExport | None:
    """Build the zip of a pending export, store it privately, mail the link and notify.

    Safe to run twice at once: the export row is locked for the whole build, and a second run
    finds it no longer pending and does nothing. Returns the export (None if it is gone: the
    account was deleted meanwhile). The file is written before the commit; when the
    transaction fails it is deleted again.
    """
    with transaction.atomic():
        export = DataExport.objects.select_for_update().select_related("user").filter(pk=export_id).first()
        if export is None or export.status != DataExportStatus.PENDING:
            return export
        user = export.user
        content = _zip(member_data(user))
        name = private_storage().save(f"exports/{user.pk}/{export.pk}.zip", ContentFile(content))
        try:
            now = timezone.now()
            export.status = DataExportStatus.READY
            export.file = name
            export.size_bytes = len(content)
            export.ready_at = now
            export.expires_at = now + timedelta(hours=settings.DATA_EXPORT_TTL_HOURS)
            export.save(update_fields=["status", "file", "size_bytes", "ready_at", "expires_at"])
            _announce_ready(export, user)
        except BaseException:
            private_storage().delete(name)
            raise
    return export


def _announce_ready(export: DataExport, user: User) -> None:
    link = export_path(export)
    expires = timezone.localtime(export.expires_at).strftime("%Y-%m-%d %H:%M %Z")

    def email(headers: dict[str, str]) -> None:
        context = {"user": user, "link": settings.SITE_URL.rstrip("/") + link, "expires": expires}
        queue_email(
            to=user.email,
            subject="Your data is ready to download",
            text=render_to_string("privacy/email/export_ready.txt", context),
            headers=headers,
        )

    notify(
        user=user,
        type=NotificationType.DATA_EXPORT_READY,
        title="Your data is ready to download",
        message=f"The download link works until {expires}.",
        link=link,
        metadata={"export_id": str(export.pk)},
        key=f"data_export:{export.pk}",
        email=email,
    )


def data_export_fail(*, export_id) -> None:
    """Mark a pending export failed (its job gave up), so the member may ask again at once."""
    DataExport.objects.filter(pk=export_id, status=DataExportStatus.PENDING).update(
        status=DataExportStatus.FAILED
    )


def data_exports_expire(*, now: datetime | None = None) -> int:
    """Delete the files of ready exports past their expiry and mark them expired; returns how
    many. Safe to run twice at once (``SKIP LOCKED``)."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        due = list(
            DataExport.objects.select_for_update(skip_locked=True).filter(
                status=DataExportStatus.READY, expires_at__lte=now
            )
        )
        for export in due:
            after_commit(private_storage().delete, export.file)
            export.status = DataExportStatus.EXPIRED
            export.file = ""
            export.save(update_fields=["status", "file"])
            expired += 1
    return expired
