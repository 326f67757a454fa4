"""Safety in messaging: archive, report as spam, block; and which conversations each tab shows.

Choices (the issue leaves them open):

- Archiving is per participant (``ConversationArchive``): it tidies one inbox, the other
  participant still sees the conversation. A message newer than the archiving brings it back
  to the active tab (nothing is written on send: the tab compares times).
- Reporting as spam (``ConversationReport``, once per reporter) moves the conversation to the
  reporter's spam tab for good (new messages do not bring it back nor count as unread) and
  queues it for staff in the admin (open reports first). Staff confirming it set the
  conversation's status to spam, which moves it to the spam tab of both participants.
- Blocking (``UserBlock``, blocker -> blocked, unique) stops every new conversation and
  message between the two, either way (``is_blocked``), and hides their conversations from
  the blocker's inbox and badge; the blocked member is not told. Unblocking restores both.
  A blocked conversation can still be opened by its link (to read it or unblock).
- Banned members cannot sign in; their conversations stay with the other participant, their
  messages shown as from a removed account (``messaging.selectors.display_name``).

Reports and blocks are rate limited per member (``MESSAGE_SAFETY_ACTIONS_PER_HOUR``). Suspended
members may still archive, report and block: these protect them.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import AccountStatus
from accounts.services import clean_staff_reason, ensure_staff_permission
from marketplace.audit import audit_record
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.ratelimit import RateLimit
from messaging.badge import unread_cache_forget
from messaging.models import (
    Conversation,
    ConversationArchive,
    ConversationReport,
    ConversationStatus,
    UserBlock,
)

REPORT_NOTE_MAX_CHARS = 1000
NOT_PARTICIPANT_MESSAGE = "No such conversation."
NOT_ARCHIVED_MESSAGE = "This conversation is not archived."
ALREADY_REPORTED_MESSAGE = "You already reported this conversation; our team is looking at it."
ALREADY_BLOCKED_MESSAGE = "You already blocked this member."
NOT_BLOCKED_MESSAGE = "You have not blocked this member."
OWN_ACCOUNT_MESSAGE = "You cannot block yourself."
NOTE_TOO_LONG_MESSAGE = "Keep the note to {limit:,} characters; this one has {length:,}."
RATE_LIMITED_MESSAGE = (
    "You can report or block up to {limit} times an hour, and you have reached that. "
    "Try again in {minutes} minute{s}."
)


def _ensure_participant(conversation: Conversation, user) -> None:
    if (
        user is None
        or not user.is_authenticated
        or user.pk not in (conversation.buyer_id, conversation.seller_id)
    ):
        raise ServiceError(NOT_PARTICIPANT_MESSAGE, code=ErrorCode.NOT_FOUND)


def _other_id(conversation: Conversation, user):
    return conversation.seller_id if user.pk == conversation.buyer_id else conversation.buyer_id


def _safety_rate_limit() -> RateLimit:
    return RateLimit("messaging-safety", settings.MESSAGE_SAFETY_ACTIONS_PER_HOUR, 3600)


def _check_rate(user) -> RateLimit:
    limit = _safety_rate_limit()
    if limit.exceeded(str(user.pk)):
        minutes = max(1, -(-limit.retry_after() // 60))
        raise ServiceError(
            RATE_LIMITED_MESSAGE.format(
                limit=settings.MESSAGE_SAFETY_ACTIONS_PER_HOUR, minutes=minutes, s="s" if minutes != 1 else ""
            ),
            code=ErrorCode.RATE_LIMITED,
        )
    return limit


def _forget_badge(*user_ids) -> None:
    after_commit(unread_cache_forget, *user_ids)


# --- Archive -------------------------------------------------------------------------------------
def conversation_archive(*, conversation: Conversation, user) -> ConversationArchive:
    """Put ``conversation`` away for ``user`` (a participant; ``not_found`` otherwise). Again on
    an archived one: the archiving time moves to now (what came since is archived too)."""
    _ensure_participant(conversation, user)
    archive, _ = ConversationArchive.objects.update_or_create(
        conversation=conversation, user=user, defaults={"archived_at": timezone.now()}
    )
    _forget_badge(user.pk)
    return archive


def conversation_unarchive(*, conversation: Conversation, user) -> None:
    """Bring ``conversation`` back to ``user``'s active tab; ``unchanged`` if it was not archived."""
    _ensure_participant(conversation, user)
    deleted, _ = ConversationArchive.objects.filter(conversation=conversation, user=user).delete()
    if not deleted:
        raise ServiceError(NOT_ARCHIVED_MESSAGE, code=ErrorCode.UNCHANGED)
    _forget_badge(user.pk)


# --- Report ---------------------------------------------------------------------------------------
def conversation_report_spam(*, conversation: Conversation, reporter, note: str = "") -> ConversationReport:
    """``reporter`` (a participant) reports ``conversation`` as spam: it leaves their inbox for
    the spam tab and joins the moderation queue. Once per reporter (``already_reported``); the
    note at most ``REPORT_NOTE_MAX_CHARS``; rate limited (``rate_limited``)."""
    _ensure_participant(conversation, reporter)
    note = (note or "").strip().replace("\x00", "")
    if len(note) > REPORT_NOTE_MAX_CHARS:
        raise ServiceError(
            NOTE_TOO_LONG_MESSAGE.format(limit=REPORT_NOTE_MAX_CHARS, length=len(note)),
            code=ErrorCode.INVALID,
        )
    if ConversationReport.objects.filter(conversation=conversation, reporter=reporter).exists():
        raise ServiceError(ALREADY_REPORTED_MESSAGE, code=ErrorCode.ALREADY_REPORTED)
    limit = _check_rate(reporter)
    try:
        with transaction.atomic():
            report = ConversationReport.objects.create(
                conversation=conversation,
                reporter=reporter,
                reported_id=_other_id(conversation, reporter),
                note=note,
            )
    except IntegrityError:  # a double click: the other request stored it
        raise ServiceError(ALREADY_REPORTED_MESSAGE, code=ErrorCode.ALREADY_REPORTED) from None
    limit.hit(str(reporter.pk))
    _forget_badge(reporter.pk)
    return report


MODERATE_PERMISSION = "messaging.moderate_conversation"


def report_resolve(*, report: ConversationReport, actor, spam: bool) -> ConversationReport:
    """Staff decide an open report: ``spam`` marks the conversation spam for both participants;
    otherwise the report is dismissed (the reporter's spam tab keeps it). ``unchanged`` if decided.
    Needs ``messaging.moderate_conversation`` (``forbidden``), as marking a conversation does."""
    ensure_staff_permission(actor, MODERATE_PERMISSION, "moderate conversations")
    with transaction.atomic():
        locked = ConversationReport.objects.select_for_update().get(pk=report.pk)
        if locked.status != ConversationReport.Status.OPEN:
            raise ServiceError("This report was already decided.", code=ErrorCode.UNCHANGED)
        locked.status = ConversationReport.Status.SPAM if spam else ConversationReport.Status.DISMISSED
        locked.resolved_at = timezone.now()
        locked.resolved_by = actor
        locked.save(update_fields=["status", "resolved_at", "resolved_by"])
        if spam:
            Conversation.objects.filter(pk=locked.conversation_id).update(status=ConversationStatus.SPAM)
            conversation = Conversation.objects.only("buyer_id", "seller_id").get(pk=locked.conversation_id)
            _forget_badge(conversation.buyer_id, conversation.seller_id)
        audit_record(
            actor=actor,
            action="messaging.report_spam" if spam else "messaging.report_dismiss",
            target=locked,
            reason=f"Spam report {'confirmed' if spam else 'dismissed'}.",
            changes={"status": (ConversationReport.Status.OPEN.value, locked.status)},
        )
    return locked


def conversation_moderate(*, conversation: Conversation, actor, spam: bool, reason: str) -> Conversation:
    """Staff mark ``conversation`` spam (it moves to both participants' spam tab) or restore
    it (active again). Needs ``messaging.moderate_conversation`` and a reason; one audit row;
    ``unchanged`` when it already is. Locks the conversation row."""
    ensure_staff_permission(actor, MODERATE_PERMISSION, "moderate conversations")
    reason = clean_staff_reason(reason)
    target = ConversationStatus.SPAM if spam else ConversationStatus.ACTIVE
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        if locked is None:
            raise ServiceError(NOT_PARTICIPANT_MESSAGE, code=ErrorCode.NOT_FOUND)
        if locked.status == target:
            raise ServiceError(
                f"This conversation is already {target.label.lower()}.", code=ErrorCode.UNCHANGED
            )
        previous = locked.status
        locked.status = target
        locked.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action="messaging.mark_spam" if spam else "messaging.restore",
            target=locked,
            reason=reason,
            changes={"status": (previous, target.value)},
        )
        _forget_badge(locked.buyer_id, locked.seller_id)
    return locked


# --- Block ----------------------------------------------------------------------------------------
def user_block(*, blocker, blocked) -> UserBlock:
    """``blocker`` blocks ``blocked``: no new conversation or message between them, either way,
    and their conversations leave the blocker's inbox. Refused: yourself (``own_account``),
    twice (``unchanged``), past the rate limit (``rate_limited``)."""
    if blocked is None or blocker.pk == blocked.pk:
        raise ServiceError(OWN_ACCOUNT_MESSAGE, code=ErrorCode.OWN_ACCOUNT)
    if UserBlock.objects.filter(blocker=blocker, blocked=blocked).exists():
        raise ServiceError(ALREADY_BLOCKED_MESSAGE, code=ErrorCode.UNCHANGED)
    limit = _check_rate(blocker)
    try:
        with transaction.atomic():
            block = UserBlock.objects.create(blocker=blocker, blocked=blocked)
    except IntegrityError:
        raise ServiceError(ALREADY_BLOCKED_MESSAGE, code=ErrorCode.UNCHANGED) from None
    limit.hit(str(blocker.pk))
    _forget_badge(blocker.pk)
    return block


def user_unblock(*, blocker, blocked) -> None:
    """Lift ``blocker``'s block of ``blocked``; ``unchanged`` if there was none."""
    deleted, _ = UserBlock.objects.filter(blocker=blocker, blocked=blocked).delete()
    if not deleted:
        raise ServiceError(NOT_BLOCKED_MESSAGE, code=ErrorCode.UNCHANGED)
    _forget_badge(blocker.pk)


# --- Reads ----------------------------------------------------------------------------------------
def is_blocked(a, b) -> bool:
    """Whether either of ``a`` and ``b`` blocked the other (one query)."""
    return UserBlock.objects.filter(Q(blocker=a, blocked=b) | Q(blocker=b, blocked=a)).exists()


def refresh_pair_standing(sender, recipient) -> bool:
    """Re-read the account status and active flag of ``sender`` and ``recipient`` onto the two
    objects, and return whether either blocked the other. One query.

    A socket holds its member and the conversation's two participants for as long as it is
    open: a suspension, a ban or a block since then must stop the next message all the same.
    Plain SQL: it runs for every message sent, and building the same statement through the
    ORM (an annotated Exists) cost about a millisecond of Python each time."""
    from accounts.models import User

    users, blocks = User._meta.db_table, UserBlock._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT u.id, u.account_status, u.is_active,
                   EXISTS (SELECT 1 FROM {blocks} b
                           WHERE (b.blocker_id = %(a)s AND b.blocked_id = %(b)s)
                              OR (b.blocker_id = %(b)s AND b.blocked_id = %(a)s))
            FROM {users} u WHERE u.id IN (%(a)s, %(b)s)
            """,  # noqa: S608 - table names from the models, values as parameters
            {"a": sender.pk, "b": recipient.pk},
        )
        rows = cursor.fetchall()
    blocked = False
    for pk, account_status, is_active, either_blocked in rows:
        for member in (sender, recipient):
            if member.pk == pk:
                member.account_status, member.is_active = account_status, is_active
        blocked = blocked or either_blocked
    return blocked


def has_blocked(blocker, blocked) -> bool:
    return UserBlock.objects.filter(blocker=blocker, blocked=blocked).exists()


def _archived_by(user):
    """Conversations ``user`` archived with nothing newer since (on a Conversation queryset)."""
    return Exists(
        ConversationArchive.objects.filter(
            conversation=OuterRef("pk"),
            user=user,
            archived_at__gte=Coalesce(OuterRef("last_message_at"), OuterRef("created_at")),
        )
    )


def _reported_by(user):
    return Exists(ConversationReport.objects.filter(conversation=OuterRef("pk"), reporter=user))


def _blocked_by(user):
    """Conversations with a member ``user`` blocked (``user`` is one participant: the other is
    the one blocked, as nobody blocks themself)."""
    return Exists(UserBlock.objects.filter(blocker=user, blocked=OuterRef("buyer_id"))) | Exists(
        UserBlock.objects.filter(blocker=user, blocked=OuterRef("seller_id"))
    )


def inbox_tab_q(user, tab: str) -> Q:
    """Which of ``user``'s conversations an inbox tab shows: "active", "archived" or "spam".
    Conversations with a member ``user`` blocked show in none, nor any to a banned member."""
    if getattr(user, "account_status", None) == AccountStatus.BANNED:
        return Q(pk__in=[])  # a banned member's conversations are hidden from them
    not_blocked = ~Q(_blocked_by(user))
    if tab == "spam":
        return (Q(status=ConversationStatus.SPAM) | Q(_reported_by(user))) & not_blocked
    visible = ~Q(status=ConversationStatus.SPAM) & ~Q(_reported_by(user)) & not_blocked
    if tab == "archived":
        return visible & (Q(status=ConversationStatus.ARCHIVED) | Q(_archived_by(user)))
    return visible & Q(status=ConversationStatus.ACTIVE) & ~Q(_archived_by(user))


def unread_exclusions_q(user) -> Q:
    """On a Message queryset of ``user``'s conversations: the unread messages the header badge
    does not count (reported conversations, blocked senders)."""
    return Q(
        Exists(ConversationReport.objects.filter(conversation=OuterRef("conversation_id"), reporter=user))
    ) | Q(Exists(UserBlock.objects.filter(blocker=user, blocked=OuterRef("sender_id"))))


@dataclass(frozen=True)
class SafetyState:
    """What the conversation page's safety buttons show for its viewer."""

    participant: bool = False
    archived: bool = False
    reported: bool = False
    blocked_by_me: bool = False
    blocked_me: bool = False

    @property
    def blocked(self) -> bool:
        return self.blocked_by_me or self.blocked_me


def conversation_safety(conversation: Conversation, viewer) -> SafetyState:
    """``viewer``'s archive, report and block state on ``conversation`` (one query; none for
    staff reading someone else's conversation)."""
    if (
        viewer is None
        or not viewer.is_authenticated
        or viewer.pk not in (conversation.buyer_id, conversation.seller_id)
    ):
        return SafetyState()
    other_id = _other_id(conversation, viewer)
    row = (
        Conversation.objects.filter(pk=conversation.pk)
        .annotate(
            is_archived=_archived_by(viewer),
            is_reported=_reported_by(viewer),
            is_blocked_by_me=Exists(UserBlock.objects.filter(blocker=viewer, blocked_id=other_id)),
            is_blocked_me=Exists(UserBlock.objects.filter(blocker_id=other_id, blocked=viewer)),
        )
        .values("is_archived", "is_reported", "is_blocked_by_me", "is_blocked_me")
        .first()
    )
    if row is None:
        return SafetyState(participant=True)
    return SafetyState(
        participant=True,
        archived=row["is_archived"],
        reported=row["is_reported"],
        blocked_by_me=row["is_blocked_by_me"],
        blocked_me=row["is_blocked_me"],
    )


def blocked_members(user) -> list[UserBlock]:
    """The members ``user`` blocked, newest first (for the unblock list). One query."""
    return list(UserBlock.objects.filter(blocker=user).select_related("blocked").order_by("-created_at"))
