"""Messaging writes: open a conversation, send a message, mark a conversation read.

Every service checks who acts (``accounts.services.ensure_can_transact``: suspended and banned
members cannot message), validates, writes, and announces after commit: a domain hook
(``messaging.hooks``) and a live push to the Channels groups ``user-<id>`` of both
participants (``marketplace.events.send_events_on_commit``). The push
carries the stored message; each consumer turns it into what its viewer may see with
``messaging.selectors.message_payload``. A lost push loses nothing: pages and sockets catch
up from the database (``messaging.selectors.messages_after``).
"""

import contextlib
import hashlib
import uuid

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import AccountStatus
from accounts.services import ensure_can_transact
from listings.models import Listing, ListingStatus, ListingVisibility
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit, send_events_on_commit
from marketplace.ratelimit import RateLimit
from messaging import hooks
from messaging.badge import UNREAD_CACHE_KEY, unread_cache_forget  # noqa: F401 (re-exported)
from messaging.models import Conversation, Message
from messaging.safety import is_blocked, refresh_pair_standing

OWN_ACCOUNT_MESSAGE = "You cannot send messages to yourself."
UNAVAILABLE_MESSAGE = "This member is not available for messages."
BLOCKED_MESSAGE = "You cannot send messages to this member."
LISTING_UNAVAILABLE_MESSAGE = "This listing is not open to questions any more."
NOT_PARTICIPANT_MESSAGE = "No such conversation."
BLANK_MESSAGE = "Write a message first."
TOO_LONG_MESSAGE = "A message can be at most {limit:,} characters; this one has {length:,}."
CLIENT_ID_REUSED_MESSAGE = "This message id was already used in another conversation."
RATE_LIMITED_MESSAGE = (
    "You can send up to {limit} messages a minute, and you have reached that. "
    "Try again in {seconds} second{s}."
)

# A buyer may start a conversation about a listing they can reach that is for sale or reserved.
CONTACTABLE_STATUSES = (ListingStatus.ACTIVE, ListingStatus.RESERVED)
CONTACTABLE_VISIBILITIES = (ListingVisibility.PUBLIC, ListingVisibility.UNLISTED)


def user_group(user_id) -> str:
    """The Channels group of every socket of member ``user_id`` (and of staff reading one of
    their conversations): messages, read receipts, the notifications badge."""
    return f"user-{user_id}"


def _participant_groups(conversation: Conversation) -> list[str]:
    return [user_group(conversation.buyer_id), user_group(conversation.seller_id)]


def _is_blocked(a, b) -> bool:
    """Whether either of ``a`` and ``b`` blocked the other (``messaging.safety.is_blocked``)."""
    return is_blocked(a, b)


def _ensure_can_reach(sender, recipient, *, blocked: bool | None = None) -> None:
    """Refuse a message to oneself, to a banned or deactivated member, or across a block
    (``blocked``: already read by the caller; None: asked here)."""
    if sender.pk == recipient.pk:
        raise ServiceError(OWN_ACCOUNT_MESSAGE, code=ErrorCode.OWN_ACCOUNT)
    if recipient.account_status == AccountStatus.BANNED or not recipient.is_active:
        raise ServiceError(UNAVAILABLE_MESSAGE, code=ErrorCode.NOT_FOUND)
    if _is_blocked(sender, recipient) if blocked is None else blocked:
        raise ServiceError(BLOCKED_MESSAGE, code=ErrorCode.BLOCKED)


def _pair_lock(a_id, b_id) -> None:
    """Serialise the listing-less conversation of one pair, whichever way round it is opened
    (the unique key holds for one orientation only). A transaction-level advisory lock."""
    low, high = sorted((str(a_id), str(b_id)))
    key = int.from_bytes(
        hashlib.sha256(f"messaging-pair:{low}:{high}".encode()).digest()[:8], "big", signed=True
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _existing_conversation(*, buyer, seller, listing) -> Conversation | None:
    if listing is not None:
        return Conversation.objects.filter(listing=listing, buyer=buyer, seller=seller).first()
    # One listing-less conversation per pair, whoever opened it.
    return (
        Conversation.objects.filter(listing__isnull=True)
        .filter(Q(buyer=buyer, seller=seller) | Q(buyer=seller, seller=buyer))
        .order_by("created_at")
        .first()
    )


def conversation_open(*, buyer, seller, listing: Listing | None = None) -> tuple[Conversation, bool]:
    """The one conversation of ``buyer`` with ``seller`` about ``listing`` (or about nothing),
    created if missing; returns ``(conversation, created)``.

    Safe under concurrency: two clicks at once give one conversation. The listing-less
    conversation of a pair is found whichever of the two opened it, under an advisory lock on
    the pair; the (listing, buyer, seller) NULLS NOT DISTINCT unique key is the last line (an
    ``IntegrityError`` inside a savepoint re-reads the winner's row).

    Refused: messaging yourself (``own_account``), an account not in good standing
    (``account_suspended`` / ``account_banned``), a banned or deactivated member
    (``not_found``), a block either way (``blocked``), and for a new conversation about a
    listing: someone else's listing (``invalid``), or one not reachable and for sale or reserved
    (``not_found``). An existing conversation is returned even once its listing is sold.
    """
    ensure_can_transact(buyer)
    _ensure_can_reach(buyer, seller)
    if listing is not None and listing.seller_id != seller.pk:
        raise ServiceError("This listing belongs to another seller.", code=ErrorCode.INVALID)
    with transaction.atomic():
        if listing is None:
            _pair_lock(buyer.pk, seller.pk)
        existing = _existing_conversation(buyer=buyer, seller=seller, listing=listing)
        if existing is not None:
            return existing, False
        if listing is not None and (
            listing.status not in CONTACTABLE_STATUSES or listing.visibility not in CONTACTABLE_VISIBILITIES
        ):
            raise ServiceError(LISTING_UNAVAILABLE_MESSAGE, code=ErrorCode.NOT_FOUND)
        try:
            with transaction.atomic():
                conversation = Conversation.objects.create(
                    listing=listing,
                    buyer=buyer,
                    seller=seller,
                    subject=listing.title[:255] if listing is not None else "",
                )
        except IntegrityError:
            existing = _existing_conversation(buyer=buyer, seller=seller, listing=listing)
            if existing is None:
                raise
            return existing, False
        after_commit(hooks.conversation_opened, conversation)
    return conversation, True


def _message_rate_limit() -> RateLimit:
    return RateLimit("messages-sent", settings.MESSAGE_RATE_PER_MINUTE, 60)


def message_rate_limit_message(retry_after: int) -> str:
    return RATE_LIMITED_MESSAGE.format(
        limit=settings.MESSAGE_RATE_PER_MINUTE, seconds=retry_after, s="s" if retry_after != 1 else ""
    )


def clean_message_body(body) -> str:
    """The body as stored (surrounding whitespace dropped), or ``ServiceError(invalid)``:
    blank, or longer than ``MESSAGE_MAX_CHARS``."""
    if not isinstance(body, str):
        raise ServiceError(BLANK_MESSAGE, code=ErrorCode.INVALID)
    body = body.strip().replace("\x00", "")
    if not body:
        raise ServiceError(BLANK_MESSAGE, code=ErrorCode.INVALID)
    if len(body) > settings.MESSAGE_MAX_CHARS:
        raise ServiceError(
            TOO_LONG_MESSAGE.format(limit=settings.MESSAGE_MAX_CHARS, length=len(body)),
            code=ErrorCode.INVALID,
        )
    return body


def _parse_client_id(client_id) -> uuid.UUID:
    if isinstance(client_id, uuid.UUID):
        return client_id
    try:
        return uuid.UUID(str(client_id))
    except (TypeError, ValueError, AttributeError):
        raise ServiceError("This message has no valid id: reload the page.", code=ErrorCode.INVALID) from None


def _stored_retry(*, conversation, sender, client_id) -> Message | None:
    message = Message.objects.filter(sender=sender, client_id=client_id).first()
    if message is not None and message.conversation_id != conversation.pk:
        raise ServiceError(CLIENT_ID_REUSED_MESSAGE, code=ErrorCode.INVALID)
    return message


def message_event_data(message: Message) -> dict:
    """The stored message as the group event carries it (raw: never sent to a socket as is;
    ``messaging.selectors.message_from_event`` + ``message_payload`` make the viewer's copy)."""
    return {
        "id": str(message.id),
        "client_id": str(message.client_id),
        "conversation_id": str(message.conversation_id),
        "sender_id": str(message.sender_id),
        "body": message.message,
        "attachments": message.attachments,
        "kind": message.kind,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }


def _announce_message(message: Message, conversation: Conversation) -> None:
    after_commit(hooks.message_sent, message)
    after_commit(unread_cache_forget, conversation.buyer_id, conversation.seller_id)
    event = {"type": "message.new", "message": message_event_data(message)}
    # Each participant's sockets (and a staff reader's) listen on the participants' user groups:
    # the two sends go at once (marketplace.events.send_events).
    send_events_on_commit(_participant_groups(conversation), event)


def message_send(
    *, conversation: Conversation, sender, body: str, client_id, attachments=()
) -> tuple[Message, bool]:
    """Store ``sender``'s message in ``conversation``; returns ``(message, created)``.

    Idempotent per ``client_id`` (a UUID the sender's page or socket generated): a retried
    send returns the stored message and False, announces nothing again and counts nothing
    against the rate limit. Refused: a non-participant (``not_found``, as for an unknown
    conversation), an account not in good standing, a banned recipient (``not_found``), a
    block either way (``blocked``), a blank or too long body (``invalid``,
    ``MESSAGE_MAX_CHARS``), more than ``MESSAGE_RATE_PER_MINUTE`` a minute (``rate_limited``).
    ``attachments`` is a list of stored attachment dicts (``messaging.attachments``).

    After commit: ``hooks.message_sent(message)`` and a ``message.new`` event to both
    participants' user groups.
    """
    if (
        sender is None
        or not sender.is_authenticated
        or sender.pk
        not in (
            conversation.buyer_id,
            conversation.seller_id,
        )
    ):
        raise ServiceError(NOT_PARTICIPANT_MESSAGE, code=ErrorCode.NOT_FOUND)
    client_id = _parse_client_id(client_id)
    limit = _message_rate_limit()
    identity = str(sender.pk)
    try:
        body = clean_message_body(body)
        recipient = conversation.seller if sender.pk == conversation.buyer_id else conversation.buyer
        blocked = refresh_pair_standing(sender, recipient)  # fresh: a socket holds both for hours
        ensure_can_transact(sender)
        _ensure_can_reach(sender, recipient, blocked=blocked)
        # Counted before the INSERT, in the one round trip that also answers "over the limit?"
        # (an attempt past the limit counts too: its window refuses to the end anyway).
        if limit.hit(identity) > limit.limit:
            raise ServiceError(message_rate_limit_message(limit.retry_after()), code=ErrorCode.RATE_LIMITED)
    except ServiceError:
        # A retry of a message stored before the refusal (a block, the rate limit since) gets
        # the stored message, as it would have: asked only here, not on every send.
        stored = _stored_retry(conversation=conversation, sender=sender, client_id=client_id)
        if stored is not None:
            return stored, False
        raise
    try:
        # Alone, the INSERT is its own transaction (autocommit: no BEGIN and COMMIT round trips);
        # inside a caller's transaction, a savepoint keeps a duplicate client id from breaking it.
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            message = Message.objects.create(
                conversation=conversation,
                sender=sender,
                message=body,
                client_id=client_id,
                attachments=list(attachments),
            )
    except IntegrityError:  # the (sender, client_id) key: a retry, stored meanwhile or before
        stored = _stored_retry(conversation=conversation, sender=sender, client_id=client_id)
        if stored is None:
            raise
        limit.uncount(identity)
        return stored, False
    _announce_message(message, conversation)  # after the caller's commit, or now
    return message, True


def conversation_mark_read(*, conversation: Conversation, reader) -> int:
    """Mark the other party's unread messages in ``conversation`` read by ``reader`` (a
    participant); returns how many. Staff reading a conversation mark nothing. After commit,
    when any: ``hooks.conversation_read`` and a ``conversation.read`` event to the conversation
    and the reader's user group (the sender's page shows "Seen", the reader's badge drops)."""
    if reader.pk not in (conversation.buyer_id, conversation.seller_id):
        return 0
    now = timezone.now()
    count = (
        Message.objects.filter(conversation=conversation, read_at__isnull=True)
        .exclude(sender_id=reader.pk)
        .update(read_at=now)
    )
    if count:
        after_commit(hooks.conversation_read, conversation, reader)
        after_commit(unread_cache_forget, reader.pk)
        event = {
            "type": "conversation.read",
            "conversation_id": str(conversation.pk),
            "reader_id": str(reader.pk),
            "read_at": now.isoformat(),
        }
        # Both participants: the sender's open page shows "Seen" (its socket listens on its user
        # group), the reader's other pages drop the badge.
        send_events_on_commit(_participant_groups(conversation), event)
    return count


def message_post_notice(*, conversation: Conversation, actor, body: str) -> Message:
    """A notice in ``conversation`` written by the site on ``actor``'s behalf (an offer, a
    counter, an answer: ``offers.services``), announced live like any message.

    No rate limit and no client id from a page (the caller's action is the unit; the caller
    holds its own locks and rate limits), but the same reach rules: a participant in good
    standing, not blocked either way (``blocked``). Call inside the caller's transaction: the
    notice commits with the change it tells of, or not at all.
    """
    if actor is None or actor.pk not in (conversation.buyer_id, conversation.seller_id):
        raise ServiceError(NOT_PARTICIPANT_MESSAGE, code=ErrorCode.NOT_FOUND)
    recipient = conversation.seller if actor.pk == conversation.buyer_id else conversation.buyer
    _ensure_can_reach(actor, recipient)
    message = Message.objects.create(
        conversation=conversation,
        sender=actor,
        message=clean_message_body(body),
        kind=Message.Kind.SYSTEM,
    )
    _announce_message(message, conversation)
    return message


# --- Account deletion (composed by privacy.services.account_delete) -------------------------
def messaging_forget_member(*, user) -> None:
    """What a deleted member's conversations keep and lose. Conversations and messages stay:
    they are the other party's too, and their pages show the sender as the deleted member
    (``User.display_name``); nobody can write to the member any more (``_ensure_can_reach``
    refuses an inactive account). The member's own inbox state goes: their archived-
    conversation marks and the blocks they made or received. Attachments stay with the
    conversation, served only to its participants as before."""
    from messaging.models import ConversationArchive, UserBlock

    with transaction.atomic():
        ConversationArchive.objects.filter(user_id=user.pk).delete()
        UserBlock.objects.filter(Q(blocker_id=user.pk) | Q(blocked_id=user.pk)).delete()
