"""Members' reports and staff resolving them.

``report_create`` files one report (once per reporter and object, rate limited per reporter
by ``REPORTS_PER_HOUR``); ``report_resolve`` closes every open report on one object, linking
the audit row of the action staff took (a take-down, a ban, ...) or none ("no action").
The actions themselves are services of the app that owns the object
(``listings.moderation``, ``reviews.services.review_moderate``,
``messaging.safety.conversation_moderate``, ``accounts.services.user_ban`` ...).
"""

import logging
import uuid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AccountStatus, User
from accounts.services import clean_staff_reason, ensure_staff_permission
from listings.models import Listing
from listings.selectors import listing_visible_to
from marketplace.audit import audit_record
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.models import AuditEntry
from marketplace.ratelimit import RateLimit
from messaging.models import Message
from messaging.selectors import is_participant
from moderation import hooks
from moderation.models import Report, ReportReason, ReportStatus, ReportTarget
from reviews.models import Review
from reviews.selectors import is_review_visible_to

logger = logging.getLogger(__name__)

RESOLVE_PERMISSION = "moderation.resolve_report"
REPORT_TEXT_MAX = 2000
NOT_FOUND = "There is nothing to report here: it does not exist or you cannot see it."
ALREADY_REPORTED = "You already reported this; our team is looking at it."


def report_rate_limit() -> RateLimit:
    return RateLimit("moderation.report", settings.REPORTS_PER_HOUR, 3600)


def reports_rate_limited_message(retry_after: int) -> str:
    minutes = max(1, round(retry_after / 60))
    return (
        f"You can send up to {settings.REPORTS_PER_HOUR} reports an hour, and you have reached that. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )


def _uuid(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise ServiceError(NOT_FOUND, code=ErrorCode.NOT_FOUND) from None


def _target(reporter, target_type: str, target_id) -> tuple[dict, object]:
    """({fk_field: object}, owner) for a target the reporter may see, else ``not_found``."""
    pk = _uuid(target_id)
    if target_type == ReportTarget.LISTING:
        listing = Listing.objects.select_related("seller").filter(pk=pk).first()
        if listing is None or not listing_visible_to(listing, reporter):
            raise ServiceError(NOT_FOUND, code=ErrorCode.NOT_FOUND)
        return {"listing": listing}, listing.seller
    if target_type == ReportTarget.USER:
        user = User.objects.filter(pk=pk).exclude(account_status=AccountStatus.BANNED).first()
        if user is None:
            raise ServiceError(NOT_FOUND, code=ErrorCode.NOT_FOUND)
        return {"user": user}, user
    if target_type == ReportTarget.REVIEW:
        review = Review.objects.select_related("reviewer").filter(pk=pk).first()
        if review is None or not is_review_visible_to(review, reporter):
            raise ServiceError(NOT_FOUND, code=ErrorCode.NOT_FOUND)
        return {"review": review}, review.reviewer
    if target_type == ReportTarget.MESSAGE:
        message = Message.objects.select_related("conversation", "sender").filter(pk=pk).first()
        if message is None or not is_participant(message.conversation, reporter):
            raise ServiceError(NOT_FOUND, code=ErrorCode.NOT_FOUND)
        return {"message": message}, message.sender
    raise ServiceError("Choose what you are reporting.", code=ErrorCode.INVALID)


def report_create(*, reporter, target_type: str, target_id, reason: str, text: str = "") -> Report:
    """``reporter`` reports the listing / user / review / message ``target_id`` for ``reason``
    (a ``ReportReason``; "other" needs ``text``, at most ``REPORT_TEXT_MAX`` characters).

    Refusals (``ServiceError``, nothing written): not logged in; an object the reporter cannot
    see (``not_found``, exactly as for one that does not exist); their own object
    (``own_account``); a second report on the same object (``already_reported``: the unique
    index decides, so two tabs at once give one report); past ``REPORTS_PER_HOUR``
    (``rate_limited``). Only a report that is written counts against the limit.
    """
    if reporter is None or not reporter.is_authenticated:
        raise ServiceError("Log in to report.", code=ErrorCode.LOGIN_REQUIRED)
    if reason not in ReportReason.values:
        raise ServiceError(
            "Choose a reason: scam, prohibited item, offensive, spam or something else.",
            code=ErrorCode.INVALID,
        )
    text = text.strip() if isinstance(text, str) else ""
    if len(text) > REPORT_TEXT_MAX:
        raise ServiceError(
            f"Keep the details to {REPORT_TEXT_MAX:,} characters; these have {len(text):,}.",
            code=ErrorCode.INVALID,
        )
    if reason == ReportReason.OTHER and not text:
        raise ServiceError("Tell us what is wrong: a few words are enough.", code=ErrorCode.INCOMPLETE)
    objects, owner = _target(reporter, target_type, target_id)
    if owner.pk == reporter.pk:
        what = "account" if target_type == "user" else target_type
        raise ServiceError(f"You cannot report your own {what}.", code=ErrorCode.OWN_ACCOUNT)
    object_key = f"{target_type}:{next(iter(objects.values())).pk}"
    if Report.objects.filter(reporter=reporter, object_key=object_key).exists():
        raise ServiceError(ALREADY_REPORTED, code=ErrorCode.ALREADY_REPORTED)
    limit = report_rate_limit()
    if limit.exceeded(str(reporter.pk)):
        raise ServiceError(reports_rate_limited_message(limit.retry_after()), code=ErrorCode.RATE_LIMITED)
    try:
        with transaction.atomic():
            report = Report.objects.create(
                reporter=reporter,
                target_type=target_type,
                object_key=object_key,
                owner=owner,
                reason=reason,
                text=text,
                **objects,
            )
    except IntegrityError as error:
        raise ServiceError(ALREADY_REPORTED, code=ErrorCode.ALREADY_REPORTED) from error
    limit.hit(str(reporter.pk))
    logger.info("report %s on %s by %s", report.pk, object_key, reporter.pk)
    return report


def report_resolve(*, object_key: str, actor, note: str, action: AuditEntry | None = None) -> int:
    """Close every open report on ``object_key``: "action taken" linking ``action`` (the audit
    row of the staff action, which must be about that object), or "no action" when None.

    Staff with ``moderation.resolve_report``; ``note`` is required (the reason for the
    decision). Locks the open reports (``FOR UPDATE``); returns how many were resolved and
    raises ``unchanged`` when none was open. One audit row; after commit the reporters hear
    of it (``hooks.reports_resolved``).
    """
    ensure_staff_permission(actor, RESOLVE_PERMISSION, "resolve reports")
    note = clean_staff_reason(note)
    with transaction.atomic():
        reports = list(
            Report.objects.select_for_update()
            .filter(object_key=object_key, status=ReportStatus.OPEN)
            .order_by("pk")
        )
        if not reports:
            raise ServiceError("There is no open report on this.", code=ErrorCode.UNCHANGED)
        if action is not None:
            target_type, _, target_id = object_key.partition(":")
            label = {"user": "accounts.user", "listing": "listings.listing", "review": "reviews.review"}.get(
                target_type, "messaging.message"
            )
            if action.target_id != target_id or action.target_type not in (label, "messaging.conversation"):
                raise ServiceError("That action was about something else.", code=ErrorCode.INVALID)
        status = ReportStatus.ACTION_TAKEN if action is not None else ReportStatus.NO_ACTION
        now = timezone.now()
        Report.objects.filter(pk__in=[report.pk for report in reports]).update(
            status=status, resolved_by=actor, resolved_at=now, resolution_note=note, action=action
        )
        audit_record(
            actor=actor,
            action="moderation.resolve",
            target=reports[0],
            reason=note,
            changes={
                "status": (ReportStatus.OPEN.value, status.value),
                "reports": ([], [r.pk for r in reports]),
            },
        )
        after_commit(hooks.reports_resolved, [report.pk for report in reports])
    return len(reports)


def latest_action_on(*, target) -> AuditEntry | None:
    """The newest audit row about ``target``: what a resolution links after staff acted."""
    return (
        AuditEntry.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk))
        .order_by("-created_at", "-id")
        .first()
    )
