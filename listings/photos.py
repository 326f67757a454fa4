"""Listing photos: upload (verified, re-encoded, stored), delete, reorder, make primary.

``Listing.images`` is a list of photo objects, the first one the primary photo::

    {"id": "<uuid hex>", "url": "<display url>", "thumb_url": "<thumbnail url>",
     "path": "<storage name>", "thumb_path": "<storage name>", "width": int, "height": int}

and ``Listing.primary_image_url`` always equals ``images[0]["url"]`` ("" without photos).
Older rows may hold plain URL strings or ``{"url", "alt"}`` objects (the demo loader wrote
strings): ``listing_photos`` reads every shape, and every write stores objects only. Such a
legacy entry gets a stable id derived from its URL and empty paths, so deleting it never
deletes a file (the demo pictures are shared between listings); only files under this
listing's own ``listings/<listing id>/`` prefix are ever deleted.

Files go through ``default_storage`` (local files, or S3 with ``MEDIA_STORAGE=s3``) under
unguessable names. Every change of ``images`` happens under ``SELECT ... FOR UPDATE`` of the
listing row, so concurrent uploads and edits never lose each other's entries.
"""

import logging
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction

from accounts.services import ensure_can_transact
from listings.lifecycle import listing_edit_refusal
from listings.models import Listing
from listings.selectors import image_url
from listings.services import listing_changed, listing_resubmit_if_required
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.images import FORMATS, clean_uploaded_image_renditions

logger = logging.getLogger(__name__)

# Copies are JPEG: photos of items rarely need transparency (it is flattened onto white),
# and every browser and mail client shows JPEG.
PHOTO_FORMAT = "JPEG"
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")  # GIF, BMP, TIFF, HEIC... are refused
ACCEPT_ATTRIBUTE = ",".join(FORMATS[name][1] for name in ACCEPTED_FORMATS)
PHOTO_FIELDS = ("id", "url", "thumb_url", "path", "thumb_path", "width", "height")
# Refusals that concern the listing or the account, not one file: a multi-file upload stops.
WHOLE_REQUEST_CODES = frozenset(
    {
        ErrorCode.LOGIN_REQUIRED,
        ErrorCode.ACCOUNT_BANNED,
        ErrorCode.ACCOUNT_SUSPENDED,
        ErrorCode.FORBIDDEN,
        ErrorCode.NOT_FOUND,
        ErrorCode.LOCKED,
        ErrorCode.IMAGE_BUSY,  # the server is decoding other pictures: the rest would wait too
    }
)


# --- Reading ---------------------------------------------------------------------------------
def _legacy_id(url: str) -> str:
    """A stable id for an entry written before photos had ids: the same on every read, so
    a page rendered before the entry was rewritten still addresses it."""
    return uuid.uuid5(uuid.NAMESPACE_URL, url).hex


def _as_photo(entry) -> dict | None:
    if isinstance(entry, str):
        entry = {"url": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("url"), str) or not entry["url"].strip():
        return None
    url = entry["url"].strip()
    photo = dict(entry)  # extra keys (an old "alt") are kept
    photo["url"] = url
    photo["id"] = entry["id"] if isinstance(entry.get("id"), str) and entry["id"] else _legacy_id(url)
    thumb_url = entry.get("thumb_url")
    photo["thumb_url"] = thumb_url.strip() if isinstance(thumb_url, str) and thumb_url.strip() else url
    for key in ("path", "thumb_path"):
        photo[key] = entry[key] if isinstance(entry.get(key), str) else ""
    for key in ("width", "height"):
        value = entry.get(key)
        photo[key] = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
    return photo


def listing_photos(listing: Listing) -> list[dict]:
    """The listing's photos as full objects, primary first, whatever shape they were stored
    in. The order matches ``listings.selectors.listing_images``: a ``primary_image_url`` that
    is not the first entry (an old row) comes first, and no URL appears twice."""
    raw = listing.images if isinstance(listing.images, list) else []
    photos, seen_urls, seen_ids = [], set(), set()
    for entry in raw:
        photo = _as_photo(entry)
        if photo and photo["url"] not in seen_urls and photo["id"] not in seen_ids:
            seen_urls.add(photo["url"])
            seen_ids.add(photo["id"])
            photos.append(photo)
    primary = (listing.primary_image_url or "").strip()
    if primary:
        index = next((i for i, photo in enumerate(photos) if photo["url"] == primary), None)
        if index is None:
            photos.insert(0, _as_photo(primary))
        elif index:
            photos.insert(0, photos.pop(index))
    return photos


@dataclass
class PhotoView:
    """One photo as the seller's photo page shows it (URLs made safe for ``src``)."""

    id: str
    url: str | None
    thumb_url: str | None
    width: int
    height: int
    position: int


def listing_photos_for_page(listing: Listing) -> list[PhotoView]:
    return [
        PhotoView(
            id=photo["id"],
            url=image_url(photo["url"]),
            thumb_url=image_url(photo["thumb_url"]) or image_url(photo["url"]),
            width=photo["width"],
            height=photo["height"],
            position=position,
        )
        for position, photo in enumerate(listing_photos(listing))
    ]


# --- Rules -------------------------------------------------------------------------------------
def _ensure_owner(listing: Listing, actor) -> None:
    if listing.seller_id != actor.pk:
        raise ServiceError("You can only change the photos of your own listings.", code=ErrorCode.FORBIDDEN)


def _ensure_changeable(listing: Listing) -> None:
    """Photos change while the listing does (draft, active), as in the listing editor: a
    reserved listing is what a buyer is paying for, and a sold or archived one is a record."""
    refusal = listing_edit_refusal(listing, what="its photos", verb="changed")
    if refusal is not None:
        raise ServiceError(refusal, code=ErrorCode.LOCKED)


def photo_change_refusal(*, listing: Listing, actor) -> str | None:
    """Why ``actor`` cannot change the listing's photos now, or None (for the page)."""
    try:
        ensure_can_transact(actor)
        _ensure_owner(listing, actor)
        _ensure_changeable(listing)
    except ServiceError as error:
        return error.message
    return None


def _too_many(limit: int) -> ServiceError:
    photos = "photo" if limit == 1 else "photos"
    return ServiceError(
        f"A listing can have at most {limit} {photos}: delete one to add another.",
        code=ErrorCode.TOO_MANY_PHOTOS,
    )


def _locked_for_change(*, listing: Listing, actor) -> Listing:
    """The listing row locked ``FOR UPDATE``, after the account, ownership and status checks.
    Call inside ``transaction.atomic()``."""
    ensure_can_transact(actor)
    locked = (
        Listing.objects.select_for_update()
        .only("id", "seller_id", "status", "images", "primary_image_url")
        .filter(pk=listing.pk)
        .first()
    )
    if locked is None:
        raise ServiceError("This listing no longer exists.", code=ErrorCode.NOT_FOUND)
    _ensure_owner(locked, actor)
    _ensure_changeable(locked)
    return locked


def _write(locked: Listing, photos: list[dict], listing: Listing) -> None:
    """Store ``photos`` on the locked row (and the caller's copy) and retire the cached page."""
    images = [{key: photo[key] for key in PHOTO_FIELDS} | _extra(photo) for photo in photos]
    locked.images = images
    locked.primary_image_url = images[0]["url"] if images else ""
    status = locked.status
    listing_resubmit_if_required(locked, ["images"])
    moved = ["status"] if locked.status != status else []
    locked.save(update_fields=["images", "primary_image_url", *moved])
    listing.images, listing.primary_image_url = locked.images, locked.primary_image_url
    listing_changed(locked.pk)


def _extra(photo: dict) -> dict:
    return {"alt": photo["alt"]} if isinstance(photo.get("alt"), str) and photo["alt"] else {}


def _find(photos: list[dict], photo_id: str) -> int:
    for index, photo in enumerate(photos):
        if photo["id"] == photo_id:
            return index
    raise ServiceError(
        "That photo is no longer on this listing: the page was out of date.", code=ErrorCode.PHOTO_NOT_FOUND
    )


# --- Files -------------------------------------------------------------------------------------
def _prefix(listing_id) -> str:
    return f"listings/{listing_id}/"


def _is_own_file(listing_id, name: str) -> bool:
    """Only files this module stored for this listing are ever deleted (never a shared demo
    picture, nor a path an admin typed into the JSON)."""
    return bool(name) and name.startswith(_prefix(listing_id)) and ".." not in name and "\\" not in name


def _delete_files(names) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # a leftover file is harmless; a failed request is not
            logger.exception("listing photos: could not delete %s", name)


def _store(listing_id, photo_id: str, copies: dict) -> dict[str, str]:
    """Save each copy under ``listings/<listing id>/<photo id>-<kind>.<ext>``; all or none."""
    stored: dict[str, str] = {}
    try:
        for kind, copy in copies.items():
            name = f"{_prefix(listing_id)}{photo_id}-{kind}.{copy.extension}"
            stored[kind] = default_storage.save(name, copy.as_file())
    except Exception:
        logger.exception("listing photos: storing a photo of listing %s failed", listing_id)
        _delete_files(stored.values())
        raise ServiceError(
            "We could not store the photo just now, so nothing was saved. Please try again.",
            code=ErrorCode.STORAGE_FAILED,
        ) from None
    return stored


# --- Services ------------------------------------------------------------------------------------
def photo_add(*, listing: Listing, actor, upload) -> dict:
    """Verify ``upload``, store a display copy and a thumbnail, and append the photo.

    The picture is checked and re-encoded by ``marketplace.images`` (no EXIF, GPS or other
    metadata survives) before anything is stored, and stored before the row is locked, so the
    lock is held for one UPDATE only. If the database write fails, the stored files are
    deleted again; if storing fails, the row is not touched. Call it outside a transaction
    (the views do): an outer transaction rolled back later would leave the files behind.
    Returns the new photo object; ``listing.images`` is updated too.
    """
    ensure_can_transact(actor)
    _ensure_owner(listing, actor)
    _ensure_changeable(listing)
    limit = settings.LISTING_MAX_PHOTOS
    if len(listing_photos(listing)) >= limit:  # refuse before decoding; checked again locked
        raise _too_many(limit)
    try:
        copies = clean_uploaded_image_renditions(
            upload,
            max_bytes=settings.LISTING_PHOTO_MAX_UPLOAD_BYTES,
            max_pixels=settings.LISTING_PHOTO_MAX_PIXELS,
            sizes={
                "display": settings.LISTING_PHOTO_DISPLAY_SIZE,
                "thumb": settings.LISTING_PHOTO_THUMB_SIZE,
            },
            formats=ACCEPTED_FORMATS,
            output_format=PHOTO_FORMAT,
        )
    except ValidationError as error:
        raise ServiceError(error.messages[0], code=ErrorCode(error.code or ErrorCode.INVALID_IMAGE)) from None

    photo_id = uuid.uuid4().hex
    stored = _store(listing.pk, photo_id, copies)
    photo = {
        "id": photo_id,
        "url": default_storage.url(stored["display"]),
        "thumb_url": default_storage.url(stored["thumb"]),
        "path": stored["display"],
        "thumb_path": stored["thumb"],
        "width": copies["display"].width,
        "height": copies["display"].height,
    }
    try:
        with transaction.atomic():
            locked = _locked_for_change(listing=listing, actor=actor)
            photos = listing_photos(locked)
            if len(photos) >= limit:
                raise _too_many(limit)
            _write(locked, [*photos, photo], listing)
    except Exception:
        _delete_files(stored.values())
        raise
    logger.info("listing %s: photo %s added", listing.pk, photo_id)
    return photo


@dataclass
class PhotoUploadResult:
    added: list[dict] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    error: str | None = None  # a refusal of the whole request (account, listing)
    error_code: ErrorCode | None = None


def photo_add_many(*, listing: Listing, actor, uploads) -> PhotoUploadResult:
    """Add several uploads, each on its own: a bad file is reported by name with the reason
    and the good ones are kept. A refusal that is not about one file (suspended account, a
    reserved listing) stops at once and is reported once; past the photo limit every
    remaining file is reported."""
    result = PhotoUploadResult()
    uploads = list(uploads)
    for index, upload in enumerate(uploads):
        try:
            result.added.append(photo_add(listing=listing, actor=actor, upload=upload))
        except ServiceError as error:
            if error.code in WHOLE_REQUEST_CODES:
                result.error, result.error_code = error.message, error.code
                if error.code == ErrorCode.IMAGE_BUSY:  # say which files to send again
                    names = ", ".join(f"“{item.name or '(unnamed file)'}”" for item in uploads[index:])
                    result.error = f"Not added: {names}. {error.message}"
                break
            result.refused.append((upload.name or "(unnamed file)", error.message))
    return result


def photo_delete(*, listing: Listing, actor, photo_id: str) -> dict:
    """Remove the photo from the listing; its files are deleted once that commits (a
    rollback keeps both the entry and the files). Returns the removed photo."""
    with transaction.atomic():
        locked = _locked_for_change(listing=listing, actor=actor)
        photos = listing_photos(locked)
        photo = photos.pop(_find(photos, photo_id))
        _write(locked, photos, listing)
        names = [name for name in (photo["path"], photo["thumb_path"]) if _is_own_file(locked.pk, name)]
        if names:
            after_commit(_delete_files, names)
    logger.info("listing %s: photo %s deleted", listing.pk, photo_id)
    return photo


def photo_move(*, listing: Listing, actor, photo_id: str, position: int) -> list[dict]:
    """Move the photo to ``position`` (0 = primary), clamped to the list; returns the photos.
    Moving the first photo left or the last one right changes nothing."""
    with transaction.atomic():
        locked = _locked_for_change(listing=listing, actor=actor)
        photos = listing_photos(locked)
        index = _find(photos, photo_id)
        position = max(0, min(int(position), len(photos) - 1))
        if position != index or locked.images != photos:
            photos.insert(position, photos.pop(index))
            _write(locked, photos, listing)
    return photos


def photo_make_primary(*, listing: Listing, actor, photo_id: str) -> list[dict]:
    """Make the photo the first one (the listing's card and page show it first)."""
    return photo_move(listing=listing, actor=actor, photo_id=photo_id, position=0)


def photo_reorder(*, listing: Listing, actor, photo_ids: list[str]) -> list[dict]:
    """Put the photos in the order of ``photo_ids``, which must name each photo once."""
    with transaction.atomic():
        locked = _locked_for_change(listing=listing, actor=actor)
        photos = listing_photos(locked)
        by_id = {photo["id"]: photo for photo in photos}
        if len(photo_ids) != len(photos) or set(photo_ids) != set(by_id):
            raise ServiceError(
                "The photos changed while you were ordering them: reload the page and try again.",
                code=ErrorCode.STALE,
            )
        photos = [by_id[photo_id] for photo_id in photo_ids]
        _write(locked, photos, listing)
    return photos
