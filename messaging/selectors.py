"""Messaging reads: who may open a conversation, the inbox, a thread, catch-up, the badge.

``access_conversation`` is the one fetch-and-check, asked by the pages and the WebSocket
consumer alike. The inbox and the thread are keyset-paginated with a fixed number of
queries, whatever they hold.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db.models import Count, DateTimeField, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.db.models.functions import Coalesce
from django.http import Http404

from accounts.models import AccountStatus, User
from listings.capabilities import listing_capabilities
from listings.models import Listing
from listings.selectors import image_url
from marketplace.pagination import newest_first_page
from messaging.attachments import attachment_views
from messaging.badge import UNREAD_CACHE_KEY
from messaging.masking import mask_contact_details, mask_for_viewer, needs_masking
from messaging.models import Conversation, ConversationStatus, Message
from messaging.safety import inbox_tab_q, unread_exclusions_q
from payments.selectors import paid_between

REMOVED_ACCOUNT_NAME = "A removed account"
INBOX_PAGE_SIZE = 20
INBOX_CURSOR_SALT = "messaging.inbox.cursor"
INBOX_FILTERS = {
    "active": ("Active", ConversationStatus.ACTIVE),
    "archived": ("Archived", ConversationStatus.ARCHIVED),
    "spam": ("Spam", ConversationStatus.SPAM),
}
THREAD_PAGE_SIZE = 30
THREAD_CURSOR_SALT = "messaging.thread.cursor"
PREVIEW_CHARS = 120
# A message committed a moment after a later-started one can carry the earlier timestamp:
# catch-up re-sends this much before the last message a client saw; the client dedupes by id.
CATCH_UP_OVERLAP = timedelta(seconds=10)
CATCH_UP_LIMIT = 500


def _conversations() -> QuerySet[Conversation]:
    return Conversation.objects.select_related("listing", "buyer", "seller")


def access_conversation(user, conversation_id) -> Conversation:
    """The conversation ``conversation_id`` if ``user`` is one of its two participants (or
    active staff, who may read for moderation), else ``Http404`` exactly as for an unknown id.
    One query: listing, buyer and seller joined."""
    if user is None or not user.is_authenticated or user.account_status == AccountStatus.BANNED:
        raise Http404("No such conversation.")  # a banned member's conversations are hidden from them
    try:
        conversation_id = uuid.UUID(str(conversation_id))
    except (TypeError, ValueError, AttributeError):
        raise Http404("No such conversation.") from None
    conversations = _conversations()
    if not (user.is_staff and user.is_active):
        conversations = conversations.filter(Q(buyer_id=user.pk) | Q(seller_id=user.pk))
    try:
        return conversations.get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


def is_participant(conversation: Conversation, user) -> bool:
    return bool(user and user.is_authenticated and user.pk in (conversation.buyer_id, conversation.seller_id))


def other_party(conversation: Conversation, viewer):
    """The participant who is not ``viewer`` (for staff: the seller)."""
    return conversation.seller if viewer.pk == conversation.buyer_id else conversation.buyer


def display_name(user) -> str:
    """What others see of a member: a banned member shows as a removed account."""
    if user.account_status == AccountStatus.BANNED:
        return REMOVED_ACCOUNT_NAME
    return user.display_name


# --- Inbox -------------------------------------------------------------------------------
@dataclass
class InboxRow:
    conversation: Conversation
    other: object
    other_name: str
    listing: object
    listing_photo: str | None
    last_message: str
    last_message_mine: bool
    unread: int
    activity_at: datetime


@dataclass
class InboxPage:
    rows: list[InboxRow]
    filter: str
    filters: list[tuple[str, str, bool]]
    next_cursor: str | None
    cursor_invalid: bool = False


def inbox_filter_q(user, filter: str) -> Q:
    """Which of ``user``'s conversations a filter tab shows: the conversation's status refined
    by ``user``'s archives, spam reports and blocks (``messaging.safety.inbox_tab_q``)."""
    return inbox_tab_q(user, filter)


def inbox_page(
    *, user, filter: str = "active", cursor: str | None = None, limit: int | None = None
) -> InboxPage:
    """``user``'s conversations by latest activity (the newest message, else the opening),
    newest first, keyset-paginated: the other party, the listing (title, photo, price,
    status), the last message's preview and the unread count. One query whatever the page
    holds. A conversation with no message yet shows only to the member who opened it.
    An unknown ``filter`` shows the active tab."""
    if filter not in INBOX_FILTERS:
        filter = "active"
    limit = limit or INBOX_PAGE_SIZE
    newest = Message.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-id")
    unread = (
        Message.objects.filter(conversation=OuterRef("pk"), read_at__isnull=True)
        .exclude(sender_id=user.pk)
        .order_by()
        .values("conversation")
        .annotate(n=Count("*"))
        .values("n")
    )
    conversations = (
        _conversations()
        .filter(Q(buyer_id=user.pk) | Q(seller_id=user.pk))
        .filter(Q(last_message_at__isnull=False) | Q(buyer_id=user.pk))
        .filter(inbox_filter_q(user, filter))
        .annotate(
            activity_at=Coalesce(F("last_message_at"), F("created_at"), output_field=DateTimeField()),
            last_body=Subquery(newest.values("message")[:1]),
            last_sender_id=Subquery(newest.values("sender_id")[:1]),
            unread_count=Coalesce(Subquery(unread), 0),
            contact_shared_flag=Exists(paid_between(OuterRef("buyer_id"), OuterRef("seller_id"))),
        )
    )
    page = newest_first_page(
        conversations, field="activity_at", cursor=cursor, salt=INBOX_CURSOR_SALT, limit=limit, scope=filter
    )
    rows = []
    for conversation in page.rows:
        other = other_party(conversation, user)
        listing = conversation.listing
        body = conversation.last_body or ""
        if body and conversation.last_sender_id != user.pk:
            conversation._contact_shared = conversation.contact_shared_flag
            if needs_masking(conversation, user, conversation.last_sender_id):
                body = mask_contact_details(body)
        rows.append(
            InboxRow(
                conversation=conversation,
                other=other,
                other_name=display_name(other),
                listing=listing,
                listing_photo=image_url(listing.primary_image_url)
                if listing and listing.primary_image_url
                else None,
                last_message=body if len(body) <= PREVIEW_CHARS else f"{body[: PREVIEW_CHARS - 1]}…",
                last_message_mine=conversation.last_sender_id == user.pk,
                unread=conversation.unread_count,
                activity_at=conversation.activity_at,
            )
        )
    filters = [(key, label, key == filter) for key, (label, _status) in INBOX_FILTERS.items()]
    return InboxPage(
        rows=rows,
        filter=filter,
        filters=filters,
        next_cursor=page.next_cursor,
        cursor_invalid=page.cursor_invalid,
    )


# --- A conversation ----------------------------------------------------------------------
@dataclass
class ThreadMessage:
    message: Message
    mine: bool
    sender_name: str
    body: str
    seen: bool = False
    attachments: list = field(default_factory=list)


@dataclass
class ConversationPage:
    conversation: Conversation
    other: object
    other_name: str
    messages: list[ThreadMessage]
    earlier_cursor: str | None
    cursor_invalid: bool = False
    last_message_id: str | None = None
    extra: dict = field(default_factory=dict)


def _thread_messages(conversation: Conversation) -> QuerySet[Message]:
    # Through the related manager: each message knows its conversation without a query (the
    # masking asks it whether the two have traded, once per conversation object).
    return conversation.messages.select_related("sender")


def _thread_message(message: Message, viewer) -> ThreadMessage:
    return ThreadMessage(
        message=message,
        mine=message.sender_id == viewer.pk,
        sender_name=display_name(message.sender),
        body=masked_body(message, viewer),
        attachments=attachment_views(message),
    )


def conversation_page(
    *, conversation: Conversation, viewer, before: str | None = None, limit: int | None = None
) -> ConversationPage:
    """The newest ``limit`` messages of ``conversation`` (before the ``before`` cursor, for
    "earlier messages"), shown oldest to newest, each as ``viewer`` may see it; "Seen" on the
    viewer's newest message the other party has read. Two queries (the page, the seen mark)."""
    cursor_invalid = False
    limit = limit or THREAD_PAGE_SIZE
    messages = _thread_messages(conversation).order_by("-created_at", "-id")
    if before:
        try:
            after = signing.loads(before, salt=THREAD_CURSOR_SALT)
            if after.get("c") != str(conversation.pk):
                raise ValueError("cursor of another conversation")
            bound = (datetime.fromisoformat(after["t"]), uuid.UUID(after["id"]))
        except (signing.BadSignature, KeyError, TypeError, ValueError, AttributeError):
            cursor_invalid = True
        else:
            messages = messages.filter(TupleLessThan(Tuple(F("created_at"), F("id")), bound))
    rows = list(messages[: limit + 1])
    earlier_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        oldest = rows[-1]
        earlier_cursor = signing.dumps(
            {"c": str(conversation.pk), "t": oldest.created_at.isoformat(), "id": str(oldest.id)},
            salt=THREAD_CURSOR_SALT,
        )
    rows.reverse()
    thread = [_thread_message(message, viewer) for message in rows]
    seen_id = (
        Message.objects.filter(conversation=conversation, sender_id=viewer.pk, read_at__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)
        .first()
    )
    for item in thread:
        item.seen = item.message.id == seen_id
    other = other_party(conversation, viewer)
    return ConversationPage(
        conversation=conversation,
        other=other,
        other_name=display_name(other),
        messages=thread,
        earlier_cursor=earlier_cursor,
        cursor_invalid=cursor_invalid,
        last_message_id=str(rows[-1].id) if rows and not before else None,
    )


def messages_after(
    *, conversation: Conversation, viewer, after_id=None, limit: int = CATCH_UP_LIMIT
) -> list[Message]:
    """Catch-up: the messages of ``conversation`` after the message ``after_id``, oldest first
    (sender joined), for a page or socket that (re)connects. Includes ``CATCH_UP_OVERLAP``
    before it (a message committed late may carry an earlier time): the client dedupes by id.
    An unknown, foreign or missing ``after_id`` gives the newest ``limit`` messages."""
    anchor = None
    if after_id:
        try:
            anchor = (
                Message.objects.filter(conversation=conversation, pk=uuid.UUID(str(after_id)))
                .values_list("created_at", "id")
                .first()
            )
        except (TypeError, ValueError, AttributeError):
            anchor = None
    messages = _thread_messages(conversation)
    if anchor is None:
        rows = list(messages.order_by("-created_at", "-id")[:limit])
        rows.reverse()
        return rows
    created_at, message_id = anchor
    since = created_at - CATCH_UP_OVERLAP
    messages = messages.filter(
        TupleGreaterThan(Tuple(F("created_at"), F("id")), (since, message_id))
    ).exclude(pk=message_id)
    return list(messages.order_by("created_at", "id")[:limit])


# --- What a viewer sees of a message -------------------------------------------------------
def masked_body(message: Message, viewer) -> str:
    """The body as ``viewer`` may read it (contact details masked before a purchase)."""
    return mask_for_viewer(message, viewer)


def message_from_event(data: dict) -> Message:
    """The unsaved ``Message`` a ``message.new`` group event carries (no query)."""
    return Message(
        id=uuid.UUID(data["id"]),
        client_id=uuid.UUID(data["client_id"]),
        conversation_id=uuid.UUID(data["conversation_id"]),
        sender_id=uuid.UUID(data["sender_id"]),
        message=data["body"],
        attachments=data.get("attachments") or [],
        kind=data.get("kind") or Message.Kind.TEXT,
        created_at=datetime.fromisoformat(data["created_at"]) if data.get("created_at") else None,
    )


def message_payload(message: Message, viewer) -> dict:
    """The JSON a socket sends ``viewer`` for ``message``: the body masked for them."""
    return {
        "id": str(message.id),
        "client_id": str(message.client_id),
        "conversation_id": str(message.conversation_id),
        "sender_id": str(message.sender_id),
        "mine": message.sender_id == viewer.pk,
        "body": masked_body(message, viewer),
        "attachments": attachment_views(message),
        "kind": message.kind,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "read_at": message.read_at.isoformat() if message.read_at else None,
    }


# --- Header badge --------------------------------------------------------------------------
def unread_count(user) -> int:
    """Messages waiting for ``user`` (unread, from the other party), leaving out conversations
    they reported and members they blocked (``messaging.safety.unread_exclusions_q``) and
    conversations staff marked spam. One query, cached (``MESSAGE_UNREAD_CACHE_SECONDS``) and
    dropped after commit by every send, read, archive, report and block."""
    if not user.is_authenticated:
        return 0
    key = UNREAD_CACHE_KEY.format(user_id=user.pk)
    count = cache.get(key)
    if count is None:
        count = (
            Message.objects.filter(
                Q(conversation__buyer_id=user.pk) | Q(conversation__seller_id=user.pk),
                read_at__isnull=True,
            )
            .exclude(sender_id=user.pk)
            .exclude(conversation__status=ConversationStatus.SPAM)
            .exclude(unread_exclusions_q(user))
            .count()
        )
        cache.set(key, count, timeout=settings.MESSAGE_UNREAD_CACHE_SECONDS)
    return count


# --- "Contact seller" / "Message" ----------------------------------------------------------
@dataclass
class ContactTarget:
    seller: object
    seller_name: str
    listing: object | None


def contact_target(*, viewer, listing_id=None, user_id=None) -> ContactTarget:
    """Whom ``viewer`` would write to from a listing's "Contact seller" (``listing_id``) or a
    profile's "Message" (``user_id``), or ``Http404`` where that button is not offered: a
    listing the viewer cannot contact about (``listing_capabilities``), an unknown, banned or
    deactivated member, or the viewer themself. One query."""

    def parse(value):
        try:
            return uuid.UUID(str(value))
        except (TypeError, ValueError, AttributeError):
            raise Http404("Nobody to write to.") from None

    if listing_id:
        try:
            listing = (
                Listing.objects.select_related("seller").defer("search_vector").get(pk=parse(listing_id))
            )
        except Listing.DoesNotExist:
            raise Http404("No such listing.") from None
        if not listing_capabilities(viewer, listing).can_contact:
            raise Http404("No such listing.")
        return ContactTarget(seller=listing.seller, seller_name=display_name(listing.seller), listing=listing)
    if user_id:
        try:
            seller = User.objects.get(pk=parse(user_id), is_active=True)
        except User.DoesNotExist:
            raise Http404("No such member.") from None
        if seller.account_status == AccountStatus.BANNED or (
            viewer.is_authenticated and seller.pk == viewer.pk
        ):
            raise Http404("No such member.")
        return ContactTarget(seller=seller, seller_name=display_name(seller), listing=None)
    raise Http404("Nobody to write to.")
