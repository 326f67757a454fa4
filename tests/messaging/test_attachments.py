"""Pictures in messages: the listing photos' pipeline, private storage, an access-checked view."""

import asyncio
import re
import uuid
from io import BytesIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from marketplace.errors import ErrorCode, ServiceError
from marketplace.media import MediaFilesApp
from marketplace.storage import private_storage
from messaging.attachments import message_send_with_attachments
from messaging.models import Message
from messaging.safety import user_block
from messaging.selectors import message_payload
from messaging.services import conversation_open
from tests.factories import ListingFactory, UserFactory
from tests.images import image_bytes, jpeg_with_gps, png_bomb

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path):
    """This test's own private storage (and public media root, to prove it stays empty)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "marketplace.storage.PrivateFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "private")},
        },
    }
    return tmp_path / "private"


@pytest.fixture
def thread():
    listing = ListingFactory()
    buyer = UserFactory()
    conversation, _ = conversation_open(buyer=buyer, seller=listing.seller, listing=listing)
    return conversation, buyer, listing.seller


def upload(data=None, name="photo.jpg"):
    return SimpleUploadedFile(name, data if data is not None else image_bytes(size=(800, 600)), "image/jpeg")


def send(conversation, sender, uploads, body="", client_id=None):
    return message_send_with_attachments(
        conversation=conversation,
        sender=sender,
        body=body,
        client_id=client_id or uuid.uuid4(),
        uploads=uploads,
    )


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def picture_url(message, size="full"):
    return reverse("messaging:attachment", args=[message.conversation_id, message.attachments[0]["id"], size])


def test_a_picture_is_re_encoded_without_exif_and_stored_privately(thread, private_root, settings):
    conversation, buyer, seller = thread
    message, created = send(conversation, buyer, [upload(jpeg_with_gps())], body="Here it is")
    assert created and message.message == "Here it is"
    [picture] = message.attachments
    assert set(picture) == {"id", "full", "thumb", "width", "height"}
    files = stored_files(private_root)
    assert len(files) == 2
    for path in files:
        image = Image.open(path)
        assert image.format == "JPEG"
        assert not image.getexif()  # no GPS, camera, serial
    assert stored_files(Path(settings.MEDIA_ROOT)) == []
    assert not Path(private_root).resolve().is_relative_to(Path(settings.MEDIA_ROOT).resolve())
    with pytest.raises(NotImplementedError):
        private_storage().url(picture["full"])  # no public URL exists


def test_a_picture_alone_gets_a_short_text_and_a_thumbnail_on_the_page(client, thread):
    conversation, buyer, seller = thread
    message, _ = send(conversation, buyer, [upload(), upload(image_bytes("PNG"), "b.png")])
    assert message.message == "Sent 2 pictures."
    thumb = Image.open(private_storage().open(message.attachments[0]["thumb"]))
    assert max(thumb.size) == 320
    client.force_login(seller)
    page = client.get(reverse("messaging:conversation", args=[conversation.pk])).content.decode()
    assert picture_url(message, "thumb") in page and picture_url(message, "full") in page
    assert message.attachments[0]["full"] not in page  # storage names never leave the server


def test_participants_and_staff_get_the_picture_others_a_404(client, thread):
    conversation, buyer, seller = thread
    message, _ = send(conversation, buyer, [upload()])
    for viewer in (buyer, seller, UserFactory(is_staff=True)):
        client.force_login(viewer)
        for size in ("full", "thumb"):
            response = client.get(picture_url(message, size))
            assert response.status_code == 200
            assert response["Content-Type"] == "image/jpeg"
            assert response["Cache-Control"].startswith("private")
            assert response["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in response["Content-Security-Policy"]
            assert Image.open(BytesIO(b"".join(response.streaming_content))).format == "JPEG"
    client.force_login(UserFactory())
    assert client.get(picture_url(message)).status_code == 404
    client.logout()
    assert client.get(picture_url(message)).status_code == 404  # anonymous: no login redirect either


def test_unknown_pictures_sizes_and_other_conversations_are_404(client, thread):
    conversation, buyer, seller = thread
    message, _ = send(conversation, buyer, [upload()])
    picture = message.attachments[0]["id"]
    other, _ = conversation_open(buyer=buyer, seller=ListingFactory().seller)
    client.force_login(buyer)
    for args in (
        [conversation.pk, picture, "original"],
        [conversation.pk, "0" * 32, "full"],
        [conversation.pk, "..%2F..%2Fetc", "full"],
        [conversation.pk, picture.upper(), "full"],
        [other.pk, picture, "full"],  # a picture id under another of the member's conversations
    ):
        assert client.get(reverse("messaging:attachment", args=args)).status_code == 404


def test_the_file_is_not_reachable_under_media(thread, settings):
    conversation, buyer, seller = thread
    message, _ = send(conversation, buyer, [upload()])
    name = message.attachments[0]["full"]
    app = MediaFilesApp(lambda *a: None, root=settings.MEDIA_ROOT, prefix=settings.MEDIA_URL)
    sent = []

    async def receive():
        return {"type": "http.request"}

    async def record(event):
        sent.append(event)

    for path in (name, f"../private/{name}", name.split("/")[-1]):
        sent.clear()
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/" + settings.MEDIA_URL.strip("/") + "/" + path,
            "headers": [],
        }
        asyncio.run(app(scope, receive, record))
        assert sent[0]["status"] == 404, path


def test_the_socket_payload_carries_urls_not_storage_names(thread):
    conversation, buyer, seller = thread
    message, _ = send(conversation, buyer, [upload()])
    [picture] = message_payload(message, seller)["attachments"]
    assert picture["url"] == picture_url(message) and picture["thumb_url"] == picture_url(message, "thumb")
    assert "full" not in picture and "thumb" not in picture


# --- Bad input: a clear message, nothing stored ----------------------------------------------------
@pytest.mark.parametrize(
    ("uploads", "code"),
    [
        (lambda: [upload() for _ in range(5)], ErrorCode.TOO_MANY_PHOTOS),
        (lambda: [upload(b"%PDF-1.4 not a picture", "doc.pdf")], ErrorCode.INVALID_IMAGE),
        (lambda: [upload(image_bytes("GIF"), "a.gif")], ErrorCode.INVALID_IMAGE),
        (
            lambda: [upload(image_bytes(size=(400, 300), noise=True)[:3000], "cut.jpg")],
            ErrorCode.CORRUPT_IMAGE,
        ),
        (lambda: [upload(png_bomb(), "bomb.png")], ErrorCode.TOO_MANY_PIXELS),
        (lambda: [upload(), upload(b"", "empty.jpg")], ErrorCode.EMPTY),
    ],
)
def test_bad_pictures_are_refused_and_nothing_is_kept(thread, private_root, uploads, code):
    conversation, buyer, seller = thread
    with pytest.raises(ServiceError) as caught:
        send(conversation, buyer, uploads())
    assert caught.value.code == code and caught.value.message
    assert stored_files(private_root) == []
    assert not Message.objects.exists()


def test_a_picture_over_the_byte_limit_is_refused(thread, private_root, settings):
    settings.MESSAGE_ATTACHMENT_MAX_BYTES = 1000
    conversation, buyer, seller = thread
    with pytest.raises(ServiceError) as caught:
        send(conversation, buyer, [upload(image_bytes(size=(400, 400), noise=True))])
    assert caught.value.code == ErrorCode.FILE_TOO_LARGE
    assert stored_files(private_root) == [] and not Message.objects.exists()


def test_refusals_before_decoding_leave_nothing(thread, private_root):
    conversation, buyer, seller = thread
    with pytest.raises(ServiceError) as caught:
        send(conversation, UserFactory(), [upload()])
    assert caught.value.code == ErrorCode.NOT_FOUND
    user_block(blocker=seller, blocked=buyer)
    with pytest.raises(ServiceError) as caught:
        send(conversation, buyer, [upload()])
    assert caught.value.code == ErrorCode.BLOCKED
    assert stored_files(private_root) == [] and not Message.objects.exists()


def test_a_refused_message_deletes_its_stored_pictures(thread, private_root, settings):
    conversation, buyer, seller = thread
    with pytest.raises(ServiceError) as caught:
        send(conversation, buyer, [upload()], body="x" * (settings.MESSAGE_MAX_CHARS + 1))
    assert caught.value.code == ErrorCode.INVALID
    settings.MESSAGE_RATE_PER_MINUTE = 0
    with pytest.raises(ServiceError) as caught:
        send(conversation, buyer, [upload()], body="Hi")
    assert caught.value.code == ErrorCode.RATE_LIMITED
    assert stored_files(private_root) == [] and not Message.objects.exists()


def test_a_retried_send_is_stored_once(thread, private_root):
    conversation, buyer, seller = thread
    client_id = uuid.uuid4()
    first, created = send(conversation, buyer, [upload()], client_id=client_id)
    again, created_again = send(conversation, buyer, [upload()], client_id=client_id)
    assert created and not created_again and again == first
    assert Message.objects.count() == 1 and len(stored_files(private_root)) == 2


def test_the_form_sends_pictures(client, thread, private_root):
    conversation, buyer, seller = thread
    client.force_login(buyer)
    url = reverse("messaging:conversation", args=[conversation.pk])
    page = client.get(url).content.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="attachments"' in page
    client_id = re.search(r'name="client_id" value="([^"]+)"', page).group(1)
    response = client.post(url, {"body": "", "client_id": client_id, "attachments": [upload(), upload()]})
    assert response.status_code == 302
    message = Message.objects.get()
    assert len(message.attachments) == 2 and message.message == "Sent 2 pictures."
    # A bad file: the page again with the reason, nothing stored.
    page = client.get(url).content.decode()
    client_id = re.search(r'name="client_id" value="([^"]+)"', page).group(1)
    response = client.post(
        url, {"body": "Hi", "client_id": client_id, "attachments": [upload(b"nope", "x.jpg")]}
    )
    assert response.status_code == 400
    assert "x.jpg" in response.content.decode()
    assert Message.objects.count() == 1 and len(stored_files(private_root)) == 4
