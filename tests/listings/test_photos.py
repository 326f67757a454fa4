import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection
from django.test import Client
from django.urls import reverse
from PIL import ExifTags, Image

from accounts.models import AccountStatus
from listings import photos as photo_services
from listings.models import Listing
from listings.photos import (
    listing_photos,
    photo_add,
    photo_delete,
    photo_make_primary,
    photo_move,
    photo_reorder,
)
from listings.selectors import LISTING_VERSION_KEY, listing_images
from marketplace.errors import ServiceError
from marketplace.images import clean_uploaded_image_renditions
from tests.factories import ListingFactory, SellerFactory, UserFactory
from tests.images import assert_colour, image_bytes, jpeg_with_gps, mpo_bytes, png_16bit_grey, png_bomb

pytestmark = pytest.mark.django_db

PHOTO_KEYS = {"id", "url", "thumb_url", "path", "thumb_path", "width", "height"}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LISTING_MAX_PHOTOS = 10
    return settings.MEDIA_ROOT


@pytest.fixture
def seller():
    return SellerFactory()


@pytest.fixture
def listing(seller):
    return ListingFactory(seller=seller)


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


# --- Building test pictures in memory ---------------------------------------------------------


def upload_file(data: bytes, name="photo.jpg", content_type="image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def page_url(listing) -> str:
    return reverse("sell:listing_photos", args=[listing.pk])


def post_photos(client, listing, *files, follow=True):
    return client.post(
        reverse("sell:photo_upload", args=[listing.pk]), {"photos": list(files)}, follow=follow
    )


def fresh(listing) -> Listing:
    return Listing.objects.get(pk=listing.pk)


def assert_consistent(listing) -> list[dict]:
    row = fresh(listing)
    assert all(isinstance(entry, dict) and set(entry) >= PHOTO_KEYS for entry in row.images)
    assert row.primary_image_url == (row.images[0]["url"] if row.images else "")
    return row.images


def add(listing, seller, **kwargs) -> dict:
    return photo_add(listing=listing, actor=seller, upload=upload_file(image_bytes(**kwargs)))


# --- Accepted uploads ------------------------------------------------------------------------------


def test_upload_stores_a_display_copy_and_a_thumbnail_without_exif(seller_client, listing, media):
    original = jpeg_with_gps()

    response = post_photos(seller_client, listing, upload_file(original, name="../../etc/holiday.jpg"))

    assert response.redirect_chain == [(page_url(listing), 302)]
    assert "Added 1 photo." in response.content.decode()
    (photo,) = assert_consistent(listing)
    assert set(photo) == PHOTO_KEYS
    assert len(photo["id"]) == 32 and int(photo["id"], 16) >= 0
    prefix = f"listings/{listing.pk}/{photo['id']}"
    assert (photo["path"], photo["thumb_path"]) == (f"{prefix}-display.jpg", f"{prefix}-thumb.jpg")
    assert photo["url"] == default_storage.url(photo["path"]) == f"/media/{photo['path']}"
    assert photo["thumb_url"] == default_storage.url(photo["thumb_path"])
    assert (photo["width"], photo["height"]) == (64, 48)
    assert [path.relative_to(media).as_posix() for path in stored_files(media)] == sorted(
        [photo["path"], photo["thumb_path"]]
    )
    for path in stored_files(media):
        stored = path.read_bytes()
        assert b"Exif" not in stored and b"SpyCam" not in stored and b"Serial" not in stored
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert not image.getexif()
            assert "exif" not in image.info
    assert "holiday" not in photo["path"]


def test_copies_are_shrunk_to_fit_and_never_enlarged(listing, seller, media, settings):
    settings.LISTING_PHOTO_DISPLAY_SIZE = 800
    settings.LISTING_PHOTO_THUMB_SIZE = 200
    big = add(listing, seller, size=(2000, 1000), noise=True)
    small = add(listing, seller, size=(150, 100))

    assert (big["width"], big["height"]) == (800, 400)
    with Image.open(media / big["path"]) as display, Image.open(media / big["thumb_path"]) as thumb:
        assert (display.size, thumb.size) == ((800, 400), (200, 100))
    assert (small["width"], small["height"]) == (150, 100)
    with Image.open(media / small["path"]) as display, Image.open(media / small["thumb_path"]) as thumb:
        assert (display.size, thumb.size) == ((150, 100), (150, 100))


def test_default_sizes_are_1600_and_400(listing, seller, media):
    photo = add(listing, seller, size=(2400, 1800), noise=True)
    with Image.open(media / photo["path"]) as display, Image.open(media / photo["thumb_path"]) as thumb:
        assert (display.size, thumb.size) == ((1600, 1200), (400, 300))


def test_exif_orientation_is_applied_before_it_is_dropped(listing, seller, media):
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # rotate 90° clockwise to display
    photo = add(listing, seller, size=(40, 20), exif=exif)
    assert (photo["width"], photo["height"]) == (20, 40)
    with Image.open(media / photo["path"]) as image:
        assert image.size == (20, 40)
        assert not image.getexif()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_are_accepted_and_stored_as_jpeg(listing, seller, media, fmt):
    photo = photo_add(
        listing=listing, actor=seller, upload=upload_file(image_bytes(fmt), name=f"x.{fmt.lower()}")
    )
    assert photo["path"].endswith("-display.jpg")
    with Image.open(media / photo["path"]) as image:
        assert image.format == "JPEG"


def test_transparency_is_flattened_onto_white(listing, seller, media):
    photo = add(listing, seller, fmt="PNG", mode="RGBA", color=(0, 0, 0, 0))
    with Image.open(media / photo["path"]) as image:
        assert min(image.convert("RGB").getpixel((10, 10))) >= 250


def test_several_files_at_once_keep_the_good_ones_and_name_the_bad_ones(seller_client, listing, media):
    response = post_photos(
        seller_client,
        listing,
        upload_file(image_bytes(color="red"), name="front.jpg"),
        upload_file(b"%PDF-1.7 not a picture", name="invoice.pdf", content_type="application/pdf"),
        upload_file(image_bytes("PNG", color="blue"), name="back.png", content_type="image/png"),
    )

    html = response.content.decode()
    assert "Added 2 photos." in html
    assert "“invoice.pdf” was not added: This file is not an image we accept" in html
    images = assert_consistent(listing)
    assert len(images) == 2
    assert len(stored_files(media)) == 4


def test_an_empty_upload_form_says_what_to_do(seller_client, listing):
    response = seller_client.post(reverse("sell:photo_upload", args=[listing.pk]), {}, follow=True)
    assert "Choose one or more photos to upload." in response.content.decode()


# --- Refused uploads --------------------------------------------------------------------------------


def assert_refused(client, listing, media, data, fragment, name="photo.jpg", content_type="image/jpeg"):
    response = post_photos(client, listing, upload_file(data, name=name, content_type=content_type))
    html = response.content.decode()
    assert f"“{name}” was not added" in html
    assert fragment in html, html
    row = fresh(listing)
    assert row.images == [] and row.primary_image_url == ""
    assert stored_files(media) == []


def test_a_non_image_is_refused(seller_client, listing, media):
    assert_refused(
        seller_client,
        listing,
        media,
        b"#!/bin/sh\necho pwned\n",
        "not an image we accept: upload a JPEG, PNG or WebP picture",
    )


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_are_refused(seller_client, listing, media, fmt):
    assert_refused(seller_client, listing, media, image_bytes(fmt), "not an image we accept", name=f"x.{fmt}")


def test_a_truncated_image_is_refused(seller_client, listing, media):
    whole = image_bytes("JPEG", size=(300, 300), noise=True)
    assert_refused(seller_client, listing, media, whole[: len(whole) // 2], "damaged or incomplete")


def test_an_oversized_file_is_refused(seller_client, listing, media, settings):
    settings.LISTING_PHOTO_MAX_UPLOAD_BYTES = 2_000
    data = image_bytes("PNG", size=(200, 200), noise=True)
    assert len(data) > 2_000
    assert_refused(
        seller_client, listing, media, data, "too large: the limit is 2.0\xa0KB", content_type="image/png"
    )


def test_too_many_pixels_for_the_setting_is_refused(seller_client, listing, media, settings):
    settings.LISTING_PHOTO_MAX_PIXELS = 100 * 100
    data = image_bytes("PNG", size=(101, 100))
    assert_refused(seller_client, listing, media, data, "too large in pixels", content_type="image/png")


def test_a_tiny_file_declaring_billions_of_pixels_is_refused_before_decoding(seller_client, listing, media):
    bomb = png_bomb()
    assert len(bomb) < 200
    assert_refused(seller_client, listing, media, bomb, "too large in pixels", content_type="image/png")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pillows_decompression_bomb_limit_applies(seller_client, listing, media, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    data = image_bytes("PNG", size=(100, 100))
    assert_refused(seller_client, listing, media, data, "too large in pixels", content_type="image/png")


def test_renditions_need_sizes():
    with pytest.raises(ValueError, match="sizes"):
        clean_uploaded_image_renditions(
            upload_file(image_bytes()), max_bytes=10_000, max_pixels=10_000, sizes={}
        )
    with pytest.raises(ValidationError):
        clean_uploaded_image_renditions(
            upload_file(b""), max_bytes=10_000, max_pixels=10_000, sizes={"x": 10}
        )


# --- The photo limit -------------------------------------------------------------------------------


def test_the_photo_limit_applies_within_one_upload_and_after(seller_client, listing, media, settings):
    settings.LISTING_MAX_PHOTOS = 2
    response = post_photos(
        seller_client,
        listing,
        *(upload_file(image_bytes(), name=f"{n}.jpg") for n in range(3)),
    )
    html = response.content.decode()
    assert "Added 2 photos." in html
    assert "“2.jpg” was not added: A listing can have at most 2 photos" in html
    assert len(assert_consistent(listing)) == 2
    assert len(stored_files(media)) == 4
    assert "has the most photos it can have (2)" in html
    assert 'type="file"' not in html

    with pytest.raises(ServiceError) as refused:
        add(fresh(listing), listing.seller)
    assert refused.value.code == "too_many_photos"


def test_the_limit_is_checked_again_under_the_lock(listing, seller, media, settings):
    """A stale in-memory listing passes the early check; the locked row refuses, and the
    files stored for it are deleted."""
    settings.LISTING_MAX_PHOTOS = 1
    stale = fresh(listing)
    add(listing, seller)
    kept = stored_files(media)

    with pytest.raises(ServiceError, match="at most 1 photo:"):
        add(stale, seller)

    assert stored_files(media) == kept
    assert len(assert_consistent(listing)) == 1


# --- Order, primary, delete ---------------------------------------------------------------------------


def test_move_primary_delete_keep_images_and_primary_url_consistent(
    listing, seller, media, django_capture_on_commit_callbacks
):
    a, b, c = (add(listing, seller, color=color) for color in ("red", "green", "blue"))
    assert [p["id"] for p in assert_consistent(listing)] == [a["id"], b["id"], c["id"]]

    photo_move(listing=listing, actor=seller, photo_id=a["id"], position=2)
    assert [p["id"] for p in assert_consistent(listing)] == [b["id"], c["id"], a["id"]]

    photo_make_primary(listing=listing, actor=seller, photo_id=a["id"])
    assert [p["id"] for p in assert_consistent(listing)] == [a["id"], b["id"], c["id"]]

    photo_move(listing=listing, actor=seller, photo_id=c["id"], position=-5)  # clamped
    assert [p["id"] for p in assert_consistent(listing)] == [c["id"], a["id"], b["id"]]
    photo_move(listing=listing, actor=seller, photo_id=c["id"], position=99)
    assert [p["id"] for p in assert_consistent(listing)] == [a["id"], b["id"], c["id"]]

    photo_reorder(listing=listing, actor=seller, photo_ids=[b["id"], c["id"], a["id"]])
    assert [p["id"] for p in assert_consistent(listing)] == [b["id"], c["id"], a["id"]]
    with pytest.raises(ServiceError, match="reload the page"):
        photo_reorder(listing=listing, actor=seller, photo_ids=[b["id"], c["id"]])

    with django_capture_on_commit_callbacks(execute=True):
        photo_delete(listing=listing, actor=seller, photo_id=b["id"])
    images = assert_consistent(listing)
    assert [p["id"] for p in images] == [c["id"], a["id"]]
    assert not (media / b["path"]).exists() and not (media / b["thumb_path"]).exists()
    assert (media / c["path"]).exists()

    with django_capture_on_commit_callbacks(execute=True):
        photo_delete(listing=listing, actor=seller, photo_id=c["id"])
        photo_delete(listing=listing, actor=seller, photo_id=a["id"])
    row = fresh(listing)
    assert (row.images, row.primary_image_url) == ([], "")
    assert stored_files(media) == []


def test_files_are_deleted_only_after_the_commit(listing, seller, media, django_capture_on_commit_callbacks):
    photo = add(listing, seller)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        photo_delete(listing=listing, actor=seller, photo_id=photo["id"])
    assert (media / photo["path"]).exists()  # still there: the transaction could roll back
    for callback in callbacks:
        callback()
    assert stored_files(media) == []


def test_an_unknown_photo_is_a_clear_refusal(listing, seller):
    add(listing, seller)
    for action in (photo_delete, photo_make_primary):
        with pytest.raises(ServiceError, match="no longer on this listing") as refused:
            action(listing=listing, actor=seller, photo_id="0" * 32)
        assert refused.value.code == "photo_not_found"


def test_changes_retire_the_cached_listing_page(listing, seller, django_capture_on_commit_callbacks):
    key = LISTING_VERSION_KEY.format(id=listing.pk)
    cache.set(key, 1)
    with django_capture_on_commit_callbacks(execute=True):
        photo = add(listing, seller)
    assert cache.get(key) == 2
    with django_capture_on_commit_callbacks(execute=True):
        photo_delete(listing=listing, actor=seller, photo_id=photo["id"])
    assert cache.get(key) == 3


def test_the_page_buttons_work_without_javascript(seller_client, listing, seller, media):
    a, b, c = (add(listing, seller, color=color) for color in ("red", "green", "blue"))
    html = seller_client.get(page_url(listing)).content.decode()
    assert (
        '<input type="file" name="photos" id="id_photos" multiple accept="image/jpeg,image/png,image/webp"'
        in html
    )
    for photo in (a, b, c):
        assert f'src="{photo["thumb_url"]}"' in html
        assert reverse("sell:photo_delete", args=[listing.pk, photo["id"]]) in html
    assert reverse("sell:photo_primary", args=[listing.pk, a["id"]]) not in html  # already the main one
    assert reverse("sell:photo_primary", args=[listing.pk, b["id"]]) in html

    response = seller_client.post(
        reverse("sell:photo_move", args=[listing.pk, c["id"]]), {"position": "1"}, follow=True
    )
    assert "The photo was moved." in response.content.decode()
    assert [p["id"] for p in assert_consistent(listing)] == [a["id"], c["id"], b["id"]]

    seller_client.post(reverse("sell:photo_primary", args=[listing.pk, b["id"]]))
    assert [p["id"] for p in assert_consistent(listing)] == [b["id"], a["id"], c["id"]]

    seller_client.post(reverse("sell:photo_delete", args=[listing.pk, a["id"]]))
    assert [p["id"] for p in assert_consistent(listing)] == [b["id"], c["id"]]

    response = seller_client.post(
        reverse("sell:photo_move", args=[listing.pk, c["id"]]), {"position": "left"}, follow=True
    )
    assert "Choose where to move the photo." in response.content.decode()
    response = seller_client.post(reverse("sell:photo_delete", args=[listing.pk, a["id"]]), follow=True)
    assert "no longer on this listing" in response.content.decode()


# --- Older rows: plain URL strings -------------------------------------------------------------------


def test_plain_string_entries_are_read_everywhere_and_rewritten_as_objects(
    seller_client, listing, seller, media, django_capture_on_commit_callbacks
):
    shared = default_storage.save("demo/shared-1.jpg", upload_file(image_bytes()))
    demo_url = default_storage.url(shared)
    listing.images = ["https://cdn.example.com/a.jpg", demo_url, {"url": "/media/old.jpg", "alt": "Old"}]
    listing.primary_image_url = "https://cdn.example.com/a.jpg"
    listing.save(update_fields=["images", "primary_image_url"])

    assert [image["url"] for image in listing_images(listing)] == [
        "https://cdn.example.com/a.jpg",
        demo_url,
        "/media/old.jpg",
    ]
    html = seller_client.get(page_url(listing)).content.decode()
    assert 'src="https://cdn.example.com/a.jpg"' in html and f'src="{demo_url}"' in html
    legacy_ids = [photo["id"] for photo in listing_photos(listing)]
    assert legacy_ids == [photo["id"] for photo in listing_photos(fresh(listing))]  # stable

    added = add(listing, seller)
    images = assert_consistent(listing)
    assert [image["id"] for image in images] == [*legacy_ids, added["id"]]
    assert images[0]["url"] == "https://cdn.example.com/a.jpg" and images[0]["path"] == ""
    assert images[2]["alt"] == "Old"

    # Deleting an entry this module did not store deletes no file (demo pictures are shared).
    with django_capture_on_commit_callbacks(execute=True):
        photo_delete(listing=listing, actor=seller, photo_id=legacy_ids[1])
    assert (media / shared).exists()
    photo_make_primary(listing=listing, actor=seller, photo_id=added["id"])
    assert fresh(listing).primary_image_url == added["url"]


def test_a_primary_url_missing_from_images_comes_first():
    listing = Listing(images=["/media/b.jpg"], primary_image_url="/media/a.jpg")
    assert [photo["url"] for photo in listing_photos(listing)] == ["/media/a.jpg", "/media/b.jpg"]
    assert [image["url"] for image in listing_images(listing)] == ["/media/a.jpg", "/media/b.jpg"]


def test_listing_images_gives_the_thumbnail_and_drops_unsafe_urls(listing, seller):
    photo = add(listing, seller)
    row = fresh(listing)
    row.images = [*row.images, "javascript:alert(1)", {"url": "/media/x.jpg", "thumb_url": "data:x"}]
    assert listing_images(row) == [
        {"url": photo["url"], "thumb_url": photo["thumb_url"], "alt": ""},
        {"url": "/media/x.jpg", "thumb_url": "/media/x.jpg", "alt": ""},
    ]


# --- Failures leave nothing half-saved --------------------------------------------------------------


def test_a_failed_database_write_leaves_no_files(listing, seller, media, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise DatabaseError("the disk is full")

    monkeypatch.setattr(Listing, "save", broken_save)
    with pytest.raises(DatabaseError):
        add(listing, seller)
    monkeypatch.undo()

    assert stored_files(media) == []
    row = fresh(listing)
    assert (row.images, row.primary_image_url) == ([], "")


def test_a_failed_storage_write_changes_nothing(listing, seller, media, monkeypatch):
    """The display copy is stored, the thumbnail fails: the display copy is removed again
    and the listing is not touched."""
    original = FileSystemStorage._save

    def save_then_fail(self, name, content):
        if name.endswith("-thumb.jpg"):
            raise OSError("bucket unreachable")
        return original(self, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", save_then_fail)
    with pytest.raises(ServiceError, match="could not store the photo") as refused:
        add(listing, seller)
    assert refused.value.code == "storage_failed"
    assert stored_files(media) == []
    row = fresh(listing)
    assert (row.images, row.primary_image_url) == ([], "")


# --- Concurrency ---------------------------------------------------------------------------------------


def _upload_in_threads(listing_id, seller_id, count: int, monkeypatch) -> list:
    """``count`` threads upload at once; each stores its files, then waits for the others
    before writing the row, so all of them read-modify-write ``images`` together."""
    barrier = threading.Barrier(count, timeout=20)
    store = photo_services._store

    def store_then_wait(*args, **kwargs):
        stored = store(*args, **kwargs)
        barrier.wait()
        return stored

    monkeypatch.setattr(photo_services, "_store", store_then_wait)
    outcomes = [None] * count

    def work(index):
        try:
            listing = Listing.objects.get(pk=listing_id)
            actor = listing.seller
            assert actor.pk == seller_id
            photo_add(listing=listing, actor=actor, upload=upload_file(image_bytes(), name=f"{index}.jpg"))
            outcomes[index] = "added"
        except ServiceError as error:
            outcomes[index] = error.code
        except Exception as error:  # reported by the assertion below
            outcomes[index] = repr(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_both_land(listing, seller, media, monkeypatch):
    outcomes = _upload_in_threads(listing.pk, seller.pk, 2, monkeypatch)

    assert outcomes == ["added", "added"]
    images = assert_consistent(listing)
    assert len(images) == 2
    assert len(stored_files(media)) == 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_respect_the_limit(listing, seller, media, monkeypatch, settings):
    settings.LISTING_MAX_PHOTOS = 1
    outcomes = _upload_in_threads(listing.pk, seller.pk, 2, monkeypatch)

    assert sorted(outcomes) == ["added", "too_many_photos"]
    (photo,) = assert_consistent(listing)
    assert sorted(stored_files(media)) == sorted([media / photo["path"], media / photo["thumb_path"]])


# --- Who may change photos ----------------------------------------------------------------------------


def photo_routes(listing, photo_id):
    return [
        ("get", page_url(listing)),
        ("post", reverse("sell:photo_upload", args=[listing.pk])),
        ("post", reverse("sell:photo_delete", args=[listing.pk, photo_id])),
        ("post", reverse("sell:photo_move", args=[listing.pk, photo_id])),
        ("post", reverse("sell:photo_primary", args=[listing.pk, photo_id])),
    ]


def test_another_user_gets_404_on_every_photo_route(client, listing, seller, media):
    photo = add(listing, seller)
    client.force_login(SellerFactory())
    for method, url in photo_routes(listing, photo["id"]):
        data = {"photos": [upload_file(image_bytes())], "position": "0"} if method == "post" else None
        assert getattr(client, method)(url, data).status_code == 404, url
    assert assert_consistent(listing) == [photo]


def test_anonymous_visitors_go_to_the_login_page(client, listing, seller):
    photo = add(listing, seller)
    login = reverse("accounts:login")
    for method, url in photo_routes(listing, photo["id"]):
        response = getattr(client, method)(url)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{login}?next=")
    assert assert_consistent(listing) == [photo]


def test_the_actions_need_post(seller_client, listing, seller):
    photo = add(listing, seller)
    for method, url in photo_routes(listing, photo["id"])[1:]:
        assert method == "post"
        assert seller_client.get(url).status_code == 405


def test_a_suspended_seller_cannot_change_photos(seller_client, listing, seller, media):
    photo = add(listing, seller)
    seller.account_status = AccountStatus.SUSPENDED
    seller.save(update_fields=["account_status"])

    html = seller_client.get(page_url(listing)).content.decode()
    assert "Your account is suspended" in html
    assert 'type="file"' not in html
    assert reverse("sell:photo_delete", args=[listing.pk, photo["id"]]) not in html

    response = post_photos(seller_client, listing, upload_file(image_bytes(), name="new.jpg"))
    assert "Your account is suspended" in response.content.decode()
    seller_client.post(reverse("sell:photo_delete", args=[listing.pk, photo["id"]]))
    assert assert_consistent(listing) == [photo]
    assert len(stored_files(media)) == 2

    for action in (photo_delete, photo_make_primary):
        with pytest.raises(ServiceError) as refused:
            action(listing=listing, actor=seller, photo_id=photo["id"])
        assert refused.value.code == "account_suspended"


def test_the_service_checks_the_owner_too(listing):
    with pytest.raises(ServiceError, match="your own listings") as refused:
        add(listing, UserFactory())
    assert refused.value.code == "forbidden"


@pytest.mark.parametrize("status", [Listing.Status.RESERVED, Listing.Status.SOLD, Listing.Status.ARCHIVED])
def test_photos_are_frozen_while_reserved_and_once_sold_or_archived(seller_client, listing, seller, status):
    photo = add(listing, seller)
    listing.status = status
    listing.sold_at = listing.published_at
    listing.save(update_fields=["status", "sold_at"])

    html = seller_client.get(page_url(listing)).content.decode()
    assert 'type="file"' not in html
    assert "its photos can" in html
    with pytest.raises(ServiceError) as refused:
        add(listing, seller)
    assert refused.value.code == "locked"
    with pytest.raises(ServiceError):
        photo_delete(listing=listing, actor=seller, photo_id=photo["id"])


def test_csrf_is_enforced(listing, seller, media):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(seller)
    url = reverse("sell:photo_upload", args=[listing.pk])

    assert browser.post(url, {"photos": [upload_file(image_bytes())]}).status_code == 403
    assert stored_files(media) == []

    browser.get(page_url(listing))  # sets the CSRF cookie
    token = browser.cookies[django_settings.CSRF_COOKIE_NAME].value
    response = browser.post(url, {"photos": [upload_file(image_bytes())], "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert len(assert_consistent(listing)) == 1


@pytest.mark.parametrize("count", [0, 6])
def test_the_photo_page_query_count_is_pinned(
    seller_client, listing, seller, count, django_assert_num_queries
):
    for _ in range(count):
        add(listing, seller)
    # The session's user, the listing.
    with django_assert_num_queries(2):
        response = seller_client.get(page_url(listing))
    assert response.status_code == 200
    assert response.content.decode().count('class="photo-item"') == count


# --- Media storage settings ----------------------------------------------------------------------------


def run_settings(env: dict, code: str) -> subprocess.CompletedProcess:
    """Import the real settings in a fresh interpreter with ``env`` (other MEDIA_STORAGE and
    AWS_* variables removed) and run ``code``."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name != "MEDIA_STORAGE" and not name.startswith("AWS_")
    }
    environment.update(env, DJANGO_SETTINGS_MODULE="marketplace.settings")
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=django_settings.BASE_DIR,
        check=False,
    )


def test_filesystem_storage_is_the_default_and_imports_no_boto3():
    result = run_settings(
        {},
        "import sys\nfrom django.core.files.storage import default_storage\n"
        "print(type(default_storage._wrapped if default_storage.url('x') else None).__name__, "
        "'boto3' in sys.modules)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["FileSystemStorage", "False"]


def test_media_storage_s3_switches_the_default_storage():
    pytest.importorskip("boto3")
    result = run_settings(
        {
            "MEDIA_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": "marketplace-media",
            "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_S3_REGION_NAME": "eu-west-1",
            "AWS_S3_CUSTOM_DOMAIN": "media.example.com",
        },
        "from django.core.files.storage import default_storage as s\n"
        "print(type(s._wrapped if s.url('listings/x.jpg') else None).__name__, s.bucket_name, "
        "s.endpoint_url, s.region_name, s.querystring_auth, s.url('listings/x.jpg'))",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "S3Storage",
        "marketplace-media",
        "http://127.0.0.1:9",
        "eu-west-1",
        "False",
        "https://media.example.com/listings/x.jpg",
    ]


def test_media_storage_s3_needs_a_bucket_and_refuses_unknown_backends():
    result = run_settings({"MEDIA_STORAGE": "s3"}, "")
    assert result.returncode != 0 and "MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME" in result.stderr
    result = run_settings({"MEDIA_STORAGE": "ftp"}, "")
    assert result.returncode != 0 and "MEDIA_STORAGE must be 'filesystem' or 's3'" in result.stderr


# --- Every kind of picture, and the decode slots (issue 11, items 14-16) ------------------------


@pytest.fixture
def decode_slots_taken(settings):
    """Every decode slot of this process held by another upload; uploads wait 50 ms."""
    from marketplace import images

    settings.IMAGE_DECODE_WAIT_SECONDS = 0.05
    slots, _ = images._decode_pool()
    taken = 0
    while slots.acquire(blocking=False):
        taken += 1
    yield
    for _ in range(taken):
        slots.release()


def test_a_16_bit_grey_png_is_stored_grey_not_white(seller_client, listing, media):
    data = png_16bit_grey(size=(640, 480), value=16448)
    response = post_photos(
        seller_client, listing, upload_file(data, name="scan.png", content_type="image/png")
    )

    assert "Added 1 photo." in response.content.decode()
    (photo,) = assert_consistent(listing)
    for key in ("path", "thumb_path"):
        assert_colour(media / photo[key], (64, 64, 64), tolerance=1)


def test_a_camera_jpeg_with_a_second_picture_is_accepted(seller_client, listing, media):
    response = post_photos(
        seller_client, listing, upload_file(mpo_bytes(first="red", second="blue"), name="DSC.JPG")
    )

    assert "Added 1 photo." in response.content.decode()
    (photo,) = assert_consistent(listing)
    assert_colour(media / photo["path"], (254, 0, 0), tolerance=4)


def test_no_free_decode_slot_answers_429_and_stores_nothing(
    seller_client, listing, media, decode_slots_taken, django_assert_num_queries
):
    files = [upload_file(image_bytes(), name="a.jpg"), upload_file(image_bytes(), name="b.jpg")]
    # The session's user and the listing, as for the page itself: nothing is written.
    with django_assert_num_queries(2):
        response = seller_client.post(reverse("sell:photo_upload", args=[listing.pk]), {"photos": files})

    assert response.status_code == 429
    assert response["Retry-After"]
    html = response.content.decode()
    assert html.count("processing many pictures right now") == 1  # said once, not per file
    assert "Not added: “a.jpg”, “b.jpg”. We are processing many pictures right now: please try again" in html
    assert 'class="photo-item"' not in html
    row = fresh(listing)
    assert row.images == [] and row.primary_image_url == ""
    assert stored_files(media) == []
