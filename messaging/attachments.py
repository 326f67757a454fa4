"""Pictures attached to messages: private, re-encoded, served only to the conversation.

An upload goes through the listing photos' pipeline (``marketplace.images``: verified,
EXIF/GPS stripped, re-encoded, decode slots and memory budget) and is stored as two JPEG
copies (``full`` and ``thumb``) in the PRIVATE storage (``storages["private"]``: outside
``MEDIA_ROOT`` locally, private objects on S3). No URL of the storage is ever handed out: the
page links to ``messaging:attachment``, a view that asks ``access_conversation`` (the two
participants and staff; everyone else gets 404, as for a file that does not exist) and
streams the file.

A message stores its attachments as a list of ``{"id", "full", "thumb", "width", "height"}``
(storage names: never shown to anyone). Limits: ``MESSAGE_MAX_ATTACHMENTS`` pictures a
message, ``MESSAGE_ATTACHMENT_MAX_BYTES`` and ``MESSAGE_ATTACHMENT_MAX_PIXELS`` each.
"""

import logging
import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from marketplace.errors import ErrorCode, ServiceError
from marketplace.images import DEFAULT_FORMATS, FORMATS, clean_uploaded_image_renditions
from marketplace.storage import private_storage
from messaging.models import Conversation, Message
from messaging.safety import is_blocked
from messaging.services import BLOCKED_MESSAGE, clean_message_body, message_send

logger = logging.getLogger(__name__)

ATTACHMENT_FORMAT = "JPEG"
ACCEPT_ATTRIBUTE = ",".join(FORMATS[name][1] for name in DEFAULT_FORMATS)
SIZES = ("full", "thumb")
ATTACHMENT_ID = re.compile(r"^[0-9a-f]{32}$")
TOO_MANY_MESSAGE = "You can attach up to {limit} pictures to a message; you chose {count}."
PHOTO_ONLY_BODY = {1: "Sent a picture.", 2: "Sent {count} pictures."}


def _photo_only_body(count: int) -> str:
    return PHOTO_ONLY_BODY[1] if count == 1 else PHOTO_ONLY_BODY[2].format(count=count)


def _delete_files(names) -> None:
    storage = private_storage()
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # a leftover private file is harmless; a failed request is not
            logger.exception("message attachments: could not delete %s", name)


def attachment_store(upload) -> dict:
    """Verify, re-encode and store one uploaded picture privately; return its attachment dict,
    or raise ``ServiceError`` (the image codes of ``marketplace.images``; ``image_busy``: 429)."""
    try:
        copies = clean_uploaded_image_renditions(
            upload,
            max_bytes=settings.MESSAGE_ATTACHMENT_MAX_BYTES,
            max_pixels=settings.MESSAGE_ATTACHMENT_MAX_PIXELS,
            sizes={
                "full": settings.MESSAGE_ATTACHMENT_DISPLAY_SIZE,
                "thumb": settings.MESSAGE_ATTACHMENT_THUMB_SIZE,
            },
            formats=DEFAULT_FORMATS,
            output_format=ATTACHMENT_FORMAT,
        )
    except ValidationError as error:
        code = error.code if error.code in ErrorCode._value2member_map_ else ErrorCode.INVALID_IMAGE
        name = getattr(upload, "name", "") or "The picture"
        raise ServiceError(f"{name}: {error.messages[0]}", code=ErrorCode(code)) from None
    attachment_id = uuid.uuid4().hex
    prefix = f"messages/{timezone.now():%Y/%m}/{attachment_id}"
    stored: dict[str, str] = {}
    storage = private_storage()
    try:
        for kind, copy in copies.items():
            stored[kind] = storage.save(f"{prefix}-{kind}.{copy.extension}", copy.as_file())
    except Exception:
        logger.exception("message attachments: storing %s failed", attachment_id)
        _delete_files(stored.values())
        raise ServiceError(
            "We could not store the picture just now, so nothing was sent. Please try again.",
            code=ErrorCode.STORAGE_FAILED,
        ) from None
    return {
        "id": attachment_id,
        "full": stored["full"],
        "thumb": stored["thumb"],
        "width": copies["full"].width,
        "height": copies["full"].height,
    }


def message_send_with_attachments(
    *, conversation: Conversation, sender, body: str, client_id, uploads=()
) -> tuple[Message, bool]:
    """``messaging.services.message_send`` with pictures: each upload verified and stored
    privately first, then the message written with them (the files are deleted again if the
    message is refused or was a retry). With pictures the text may be blank ("Sent a
    picture."). Refused before any decoding: more than ``MESSAGE_MAX_ATTACHMENTS`` pictures
    (``too_many_photos``), a non-participant (``not_found``), a block (``blocked``), a text
    that is too long. A retried ``client_id`` returns the stored message without decoding.
    Call it outside a transaction (the views do), so a rollback cannot orphan files.
    """
    uploads = [upload for upload in uploads if upload]
    if not uploads:
        return message_send(conversation=conversation, sender=sender, body=body, client_id=client_id)
    participant = (
        sender is not None
        and sender.is_authenticated
        and sender.pk
        in (
            conversation.buyer_id,
            conversation.seller_id,
        )
    )
    if not participant:
        raise ServiceError("No such conversation.", code=ErrorCode.NOT_FOUND)
    stored_retry = (
        Message.objects.filter(sender=sender, client_id=str(client_id)).first()
        if _is_uuid(client_id)
        else None
    )
    if stored_retry is not None and stored_retry.conversation_id == conversation.pk:
        return stored_retry, False
    limit = settings.MESSAGE_MAX_ATTACHMENTS
    if len(uploads) > limit:
        raise ServiceError(
            TOO_MANY_MESSAGE.format(limit=limit, count=len(uploads)), code=ErrorCode.TOO_MANY_PHOTOS
        )
    other_id = conversation.seller_id if sender.pk == conversation.buyer_id else conversation.buyer_id
    if is_blocked(sender.pk, other_id):
        raise ServiceError(BLOCKED_MESSAGE, code=ErrorCode.BLOCKED)
    body = clean_message_body(body) if (body or "").strip() else _photo_only_body(len(uploads))
    attachments: list[dict] = []
    try:
        for upload in uploads:
            attachments.append(attachment_store(upload))
        message, created = message_send(
            conversation=conversation, sender=sender, body=body, client_id=client_id, attachments=attachments
        )
    except Exception:
        _delete_files(
            name for attachment in attachments for name in (attachment["full"], attachment["thumb"])
        )
        raise
    if not created:
        _delete_files(
            name for attachment in attachments for name in (attachment["full"], attachment["thumb"])
        )
    return message, created


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def attachment_for(*, conversation: Conversation, attachment_id: str, size: str) -> str:
    """The private storage name of one copy of an attachment of ``conversation`` (already
    access-checked by the caller), or ``LookupError``. One query."""
    if size not in SIZES or not ATTACHMENT_ID.match(attachment_id or ""):
        raise LookupError(attachment_id)
    message = (
        Message.objects.filter(conversation=conversation, attachments__contains=[{"id": attachment_id}])
        .only("attachments")
        .first()
    )
    if message is None:
        raise LookupError(attachment_id)
    for attachment in message.attachments:
        if isinstance(attachment, dict) and attachment.get("id") == attachment_id and attachment.get(size):
            return attachment[size]
    raise LookupError(attachment_id)


def attachment_views(message: Message) -> list[dict]:
    """What a page or socket may show of a message's pictures: ids, sizes and the access-checked
    URLs of both copies; never storage names."""
    return [
        {
            "id": attachment["id"],
            "width": attachment.get("width"),
            "height": attachment.get("height"),
            "url": reverse("messaging:attachment", args=[message.conversation_id, attachment["id"], "full"]),
            "thumb_url": reverse(
                "messaging:attachment", args=[message.conversation_id, attachment["id"], "thumb"]
            ),
        }
        for attachment in (message.attachments or [])
        if isinstance(attachment, dict) and ATTACHMENT_ID.match(str(attachment.get("id", "")))
    ]
