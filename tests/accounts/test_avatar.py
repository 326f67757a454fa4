import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import ExifTags, Image

from marketplace.images import clean_uploaded_image
from tests.factories import UserFactory
from tests.images import assert_colour, image_bytes, jpeg_with_gps, mpo_bytes, png_16bit_grey, png_bomb

pytestmark = pytest.mark.django_db

EDIT_URL = reverse("accounts:profile_edit")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def member(client):
    user = UserFactory(first_name="Ada", last_name="Lovelace", bio="Hi.")
    client.force_login(user)
    return user


def stored_files(root) -> list:
    return sorted(path for path in root.rglob("*") if path.is_file())


def upload(client, data: bytes, name="photo.jpg", content_type="image/jpeg", **fields):
    form = {"first_name": "Ada", "last_name": "Lovelace", "bio": "Hi.", **fields}
    if data is not None:
        form["avatar"] = SimpleUploadedFile(name, data, content_type=content_type)
    return client.post(EDIT_URL, form)


def assert_refused(response, member, media, fragment):
    assert response.status_code == 200
    errors = response.context["form"].errors["avatar"]
    assert any(fragment in error for error in errors), errors
    assert 'id="id_avatar_error"' in response.content.decode()
    member.refresh_from_db()
    assert not member.avatar
    assert stored_files(media) == []


# --- Accepted uploads -----------------------------------------------------------------------


def test_jpeg_is_stored_re_encoded_without_exif(client, member, media):
    original = jpeg_with_gps()

    response = upload(client, original, name="../../etc/holiday.jpg")

    assert response["Location"] == EDIT_URL
    member.refresh_from_db()
    assert member.avatar.name.startswith("avatars/")
    assert member.avatar.name.endswith(".jpg")
    assert "holiday" not in member.avatar.name  # stored under a random name
    (path,) = stored_files(media)
    stored = path.read_bytes()
    assert stored != original
    assert b"Exif" not in stored
    assert b"SpyCam" not in stored
    with Image.open(path) as image:
        assert image.format == "JPEG"
        assert not image.getexif()
        assert "exif" not in image.info
        assert image.size == (64, 48)
    assert default_storage.exists(member.avatar.name)


def test_exif_orientation_is_applied_before_it_is_dropped(client, member, media):
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # rotate 90° clockwise to display
    upload(client, image_bytes("JPEG", size=(40, 20), exif=exif))
    (path,) = stored_files(media)
    with Image.open(path) as image:
        assert image.size == (20, 40)
        assert not image.getexif()


def test_large_pictures_are_shrunk_to_the_avatar_size(client, member, media, settings):
    settings.AVATAR_SIZE = 128
    upload(client, image_bytes("JPEG", size=(1200, 600), noise=True))
    (path,) = stored_files(media)
    with Image.open(path) as image:
        assert image.size == (128, 64)


def test_transparent_png_stays_a_transparent_png(client, member, media):
    upload(client, image_bytes("PNG", mode="RGBA"), name="me.png", content_type="image/png")
    (path,) = stored_files(media)
    assert path.suffix == ".png"
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"


def test_webp_is_accepted(client, member, media):
    upload(client, image_bytes("WEBP"), name="me.webp", content_type="image/webp")
    (path,) = stored_files(media)
    assert path.suffix == ".webp"
    with Image.open(path) as image:
        assert image.format == "WEBP"


def test_replacing_and_removing_delete_the_old_file(
    client, member, media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, image_bytes("JPEG"))
    (first,) = stored_files(media)

    with django_capture_on_commit_callbacks(execute=True):
        upload(client, image_bytes("PNG"), name="new.png", content_type="image/png")
    (second,) = stored_files(media)
    assert second != first
    assert second.suffix == ".png"

    with django_capture_on_commit_callbacks(execute=True):
        upload(client, None, **{"avatar-clear": "on"})
    member.refresh_from_db()
    assert not member.avatar
    assert stored_files(media) == []


def test_saving_other_fields_keeps_the_photo(client, member, media):
    upload(client, image_bytes("JPEG"))
    member.refresh_from_db()
    name = member.avatar.name
    upload(client, None, bio="Changed.")
    member.refresh_from_db()
    assert member.avatar.name == name
    assert member.bio == "Changed."


def test_public_profile_shows_the_avatar(client, member):
    upload(client, image_bytes("JPEG"))
    member.refresh_from_db()
    html = client.get(reverse("accounts:profile", kwargs={"user_id": member.pk})).content.decode()
    assert f'src="{member.avatar.url}"' in html


# --- Refused uploads ------------------------------------------------------------------------


def test_a_non_image_is_refused(client, member, media):
    response = upload(client, b"#!/bin/sh\necho pwned\n", name="photo.jpg")
    assert_refused(response, member, media, "not an image we accept: upload a JPEG, PNG or WebP picture")


def test_a_gif_is_refused(client, member, media):
    response = upload(client, image_bytes("GIF"), name="cat.gif", content_type="image/gif")
    assert_refused(response, member, media, "not an image we accept")


def test_a_truncated_image_is_refused(client, member, media):
    whole = image_bytes("JPEG", size=(300, 300), noise=True)
    response = upload(client, whole[: len(whole) // 2])
    assert_refused(response, member, media, "damaged or incomplete")


def test_an_empty_file_is_refused(client, member, media):
    response = upload(client, b"")
    assert_refused(response, member, media, "empty")


def test_an_oversized_file_is_refused(client, member, media, settings):
    settings.AVATAR_MAX_UPLOAD_BYTES = 2_000
    data = image_bytes("PNG", size=(200, 200), noise=True)
    assert len(data) > 2_000
    response = upload(client, data, name="big.png", content_type="image/png")
    assert_refused(response, member, media, "too large: the limit is 2.0\xa0KB")


def test_too_many_pixels_is_refused(client, member, media, settings):
    settings.AVATAR_MAX_PIXELS = 100 * 100
    response = upload(client, image_bytes("PNG", size=(101, 100)), name="wide.png", content_type="image/png")
    assert_refused(response, member, media, "too large in pixels")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("size", [(40, 40), (100, 100)], ids=["past-the-warning", "past-the-error"])
def test_decompression_bombs_are_refused_by_pillows_limit(client, member, media, monkeypatch, size):
    """Pillow warns past MAX_IMAGE_PIXELS and raises past twice that; both are refusals."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    response = upload(client, image_bytes("PNG", size=size), name="bomb.png", content_type="image/png")
    assert_refused(response, member, media, "too large in pixels")


def test_a_tiny_file_declaring_billions_of_pixels_is_refused_before_decoding(client, member, media):
    bomb = png_bomb()
    assert len(bomb) < 200
    response = upload(client, bomb, name="bomb.png", content_type="image/png")
    assert_refused(response, member, media, "too large in pixels")


def test_a_refused_upload_changes_nothing_else(client, member, media):
    upload(client, image_bytes("JPEG"))
    member.refresh_from_db()
    kept = member.avatar.name

    response = upload(client, b"not an image", bio="Should not be saved.")

    assert response.status_code == 200
    member.refresh_from_db()
    assert member.avatar.name == kept
    assert member.bio == "Hi."
    assert len(stored_files(media)) == 1


# --- The reusable module --------------------------------------------------------------------


def test_clean_uploaded_image_returns_clean_bytes_and_metadata():
    clean = clean_uploaded_image(
        SimpleUploadedFile("x.jpg", jpeg_with_gps()), max_bytes=1_000_000, max_pixels=1_000_000
    )
    assert (clean.format, clean.extension, clean.content_type) == ("JPEG", "jpg", "image/jpeg")
    assert (clean.width, clean.height) == (64, 48)
    assert b"Exif" not in clean.content


def test_clean_uploaded_image_honours_the_callers_formats():
    png = SimpleUploadedFile("x.png", image_bytes("PNG"))
    with pytest.raises(ValidationError) as refused:
        clean_uploaded_image(png, max_bytes=1_000_000, max_pixels=1_000_000, formats=("JPEG",))
    assert refused.value.code == "invalid_image"
    assert "upload a JPEG picture" in refused.value.messages[0]


# --- Every kind of picture, and the decode slots (issue 11, items 14-16) ---------------------


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


def test_a_16_bit_grey_png_is_stored_grey_not_white(client, member, media):
    response = upload(client, png_16bit_grey(value=16448), name="scan.png", content_type="image/png")

    assert response["Location"] == EDIT_URL
    (path,) = stored_files(media)
    assert path.suffix == ".png"
    assert_colour(path, (64, 64, 64), tolerance=1)


def test_a_camera_jpeg_with_a_second_picture_is_accepted_as_a_jpeg(client, member, media):
    response = upload(client, mpo_bytes(first="red", second="blue"), name="DSC0001.JPG")

    assert response["Location"] == EDIT_URL
    (path,) = stored_files(media)
    assert path.suffix == ".jpg"
    with Image.open(path) as image:
        assert image.format == "JPEG"
        assert getattr(image, "n_frames", 1) == 1
    assert_colour(path, (254, 0, 0), tolerance=4)


def test_no_free_decode_slot_answers_429_and_changes_nothing(client, member, media, decode_slots_taken):
    response = upload(client, image_bytes("JPEG"), bio="Should not be saved.")

    assert response.status_code == 429
    assert response["Retry-After"]
    assert "processing many pictures right now" in response.content.decode()
    member.refresh_from_db()
    assert not member.avatar
    assert member.bio == "Hi."
    assert stored_files(media) == []


def test_an_avatar_uploaded_in_the_admin_goes_through_the_same_pipeline(member):
    from accounts.forms import UserAdminChangeForm

    form = UserAdminChangeForm(instance=member)
    form.cleaned_data = {"avatar": SimpleUploadedFile("spy.png", png_16bit_grey(value=16448))}
    stored = form.clean_avatar()
    assert stored.name.endswith(".png") and "spy" not in stored.name
    assert_colour(stored.read(), (64, 64, 64), tolerance=1)

    form.cleaned_data = {"avatar": SimpleUploadedFile("gps.jpg", jpeg_with_gps())}
    assert b"SpyCam" not in form.clean_avatar().read()

    form.cleaned_data = {"avatar": SimpleUploadedFile("x.jpg", b"not a picture")}
    with pytest.raises(ValidationError, match="not an image we accept"):
        form.clean_avatar()
    form.cleaned_data = {"avatar": False}  # "clear" is left to the model form
    assert form.clean_avatar() is False
