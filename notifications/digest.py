"""The unread-message digest: a message still unread ``MESSAGE_EMAIL_DELAY_MINUTES`` after it
was sent is mailed to its recipient once, batched: one email per recipient per run, listing
each conversation with its unread count. Reading the message first cancels its mail (only
unread messages are picked). Run by the periodic job ``notifications.mail_unread_messages``.

Safe to run twice at once: the messages are locked ``FOR UPDATE SKIP LOCKED`` (a concurrent run
takes the others), and each picked message gets a ``MessageEmail`` row (its primary key is the
message) in the same transaction as the queued email. A message a concurrent run mailed and
committed while this run waited is dropped after the lock (read again then), so a message is
never mailed twice and a run that fails mails nothing and marks nothing. The email carries no message text (no
contact details leak by email; the conversation page masks them as usual).
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, When
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus
from marketplace.mail import queue_email
from messaging.models import ConversationReport, ConversationStatus, Message, UserBlock
from notifications.emails import absolute
from notifications.models import MessageEmail, NotificationChannel, NotificationType
from notifications.preferences import enabled_channels
from notifications.services import notify
from notifications.unsubscribe import unsubscribe_url

TEMPLATE = "emails/notifications/message_digest"
BATCH = 500  # messages per transaction; the job loops until none is due


@dataclass
class Thread:
    conversation_id: str
    other_name: str
    listing_title: str
    unread: int = 0
    url: str = ""


@dataclass
class Digest:
    recipient: object
    threads: "OrderedDict[str, Thread]" = field(default_factory=OrderedDict)
    message_ids: list = field(default_factory=list)


def _due(now: datetime):
    """Unread messages due for the digest, their recipient annotated: old enough, not too old,
    not yet handled, not in a spam conversation, not reported or blocked by the recipient."""
    recipient = Case(
        When(sender_id=F("conversation__buyer_id"), then=F("conversation__seller_id")),
        default=F("conversation__buyer_id"),
    )
    queryset = (
        Message.objects.filter(
            read_at__isnull=True,
            created_at__lte=now - timedelta(minutes=settings.MESSAGE_EMAIL_DELAY_MINUTES),
            created_at__gte=now - timedelta(hours=settings.MESSAGE_EMAIL_MAX_AGE_HOURS),
        )
        .exclude(conversation__status=ConversationStatus.SPAM)
        .annotate(recipient_id=recipient)
        .exclude(Exists(MessageEmail.objects.filter(message_id=OuterRef("pk"))))
        .exclude(
            Exists(
                ConversationReport.objects.filter(
                    conversation_id=OuterRef("conversation_id"), reporter_id=OuterRef("recipient_id")
                )
            )
        )
        .exclude(
            Exists(
                UserBlock.objects.filter(
                    blocker_id=OuterRef("recipient_id"), blocked_id=OuterRef("sender_id")
                )
            )
        )
    )
    if any(f.name == "kind" for f in Message._meta.get_fields()):
        queryset = queryset.filter(kind="text")  # notices the site wrote are told by their own area
    return queryset


def _threads(messages) -> dict:
    users = get_user_model().objects.in_bulk(
        {m.recipient_id for m in messages} | {m.sender_id for m in messages}
    )
    digests: dict = {}
    for message in messages:
        recipient = users[message.recipient_id]
        digest = digests.setdefault(recipient.pk, Digest(recipient=recipient))
        digest.message_ids.append(message.pk)
        key = str(message.conversation_id)
        thread = digest.threads.get(key)
        if thread is None:
            listing = message.conversation.listing
            thread = digest.threads[key] = Thread(
                conversation_id=key,
                other_name=users[message.sender_id].display_name,
                listing_title=listing.title if listing is not None else "",
                url=absolute(reverse("messaging:conversation", args=[message.conversation_id])),
            )
        thread.unread += 1
    return digests


def _mail(digest: Digest, headers: dict[str, str]) -> None:
    recipient = digest.recipient
    threads = list(digest.threads.values())
    total = sum(thread.unread for thread in threads)
    subject = f"You have {total} unread message{'s' if total != 1 else ''}"
    context = {
        "recipient_name": recipient.first_name,
        "threads": threads,
        "total": total,
        "subject": subject,
        "inbox_url": absolute(reverse("messaging:inbox")),
        "unsubscribe_url": unsubscribe_url(recipient.pk, NotificationType.MESSAGE_DIGEST),
    }
    queue_email(
        to=recipient.email,
        subject=subject,
        text=render_to_string(f"{TEMPLATE}.txt", context),
        html=render_to_string(f"{TEMPLATE}.html", context),
        headers=headers,
    )


def mail_unread_messages(*, now: datetime | None = None, batch: int = BATCH) -> int:
    """Mail every due unread message once; returns how many messages were handled (mailed, or
    marked as not to mail: the member turned the digest off, or cannot be mailed).
    Locks the picked messages (``FOR UPDATE SKIP LOCKED``) for the length of one batch."""
    now = now or timezone.now()
    handled = 0
    while True:
        with transaction.atomic():
            picked = list(
                _due(now)
                .select_related("conversation__listing")
                .select_for_update(of=("self",), skip_locked=True)
                .order_by("created_at", "id")[:batch]
            )
            if not picked:
                return handled
            locked = len(picked)
            # The statement's snapshot predates the lock it waited for: a run that held one of
            # these rows may have committed its MessageEmail since (a lock without an update
            # makes no re-check). Holding the locks now, a fresh read sees every such claim.
            claimed = set(
                MessageEmail.objects.filter(message_id__in=[m.pk for m in picked]).values_list(
                    "message_id", flat=True
                )
            )
            picked = [message for message in picked if message.pk not in claimed]
            for digest in _threads(picked).values():
                recipient = digest.recipient
                wanted = (
                    recipient.is_active
                    and recipient.account_status != AccountStatus.BANNED
                    and bool(recipient.email)
                    and enabled_channels(recipient.pk, NotificationType.MESSAGE_DIGEST)[
                        NotificationChannel.EMAIL
                    ]
                )
                MessageEmail.objects.bulk_create(
                    [
                        MessageEmail(message_id=pk, recipient=recipient, mailed=wanted)
                        for pk in digest.message_ids
                    ],
                    ignore_conflicts=True,
                )
                if wanted:
                    threads = list(digest.threads.values())
                    total = sum(thread.unread for thread in threads)
                    notify(
                        user=recipient,
                        type=NotificationType.MESSAGE_DIGEST,
                        title=f"You have {total} unread message{'s' if total != 1 else ''}",
                        link=reverse("messaging:inbox"),
                        metadata={"conversations": [thread.conversation_id for thread in threads]},
                        key=f"message_digest:{digest.message_ids[-1]}",
                        email=lambda headers, digest=digest: _mail(digest, headers),
                    )
            handled += len(picked)
        if locked < batch:
            return handled
