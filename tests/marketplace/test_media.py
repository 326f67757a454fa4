"""marketplace.media: uploaded media served by the ASGI application (SERVE_MEDIA)."""

import asyncio
import os
import subprocess
import sys
from email.utils import formatdate

import pytest
from django.conf import settings

from marketplace.media import MediaFilesApp, with_media
from tests.images import image_bytes


async def _inner(scope, receive, send):
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"django"})


def call(app, path: str, method: str = "GET", headers=()) -> tuple[int, dict, bytes]:
    scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
    messages = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    asyncio.run(app(scope, receive, send))
    start, *bodies = messages
    return (
        start["status"],
        {name.decode(): value.decode() for name, value in start["headers"]},
        b"".join(body["body"] for body in bodies),
    )


@pytest.fixture
def root(tmp_path):
    media = tmp_path / "media"
    (media / "listings" / "ab").mkdir(parents=True)
    (media / "listings" / "ab" / "photo.jpg").write_bytes(image_bytes(size=(400, 300), noise=True))
    (media / "avatars").mkdir()
    (media / "avatars" / "me.webp").write_bytes(image_bytes("WEBP"))
    (media / ".hidden").write_text("secret")
    (tmp_path / "outside.txt").write_text("secret")
    (media / "link.txt").symlink_to(tmp_path / "outside.txt")
    return media


@pytest.fixture
def app(root):
    return MediaFilesApp(_inner, root=root, prefix="media/")


def test_serves_a_photo_as_an_immutable_image_in_chunks(app, root):
    data = (root / "listings" / "ab" / "photo.jpg").read_bytes()
    assert len(data) > 64 * 1024  # more than one chunk
    status, headers, body = call(app, "/media/listings/ab/photo.jpg")
    assert status == 200
    assert body == data
    assert headers["content-type"] == "image/jpeg"
    assert headers["content-length"] == str(len(data))
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert "last-modified" in headers


def test_serves_avatars_with_their_type_and_head_without_a_body(app):
    status, headers, body = call(app, "/media/avatars/me.webp")
    assert (status, headers["content-type"]) == (200, "image/webp")
    assert body.startswith(b"RIFF")
    status, headers, body = call(app, "/media/avatars/me.webp", method="HEAD")
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) > 0


def test_answers_304_when_not_modified_since(app, root):
    mtime = (root / "avatars" / "me.webp").stat().st_mtime
    since = formatdate(mtime + 1, usegmt=True).encode()
    status, headers, body = call(app, "/media/avatars/me.webp", headers=[(b"if-modified-since", since)])
    assert (status, body) == (304, b"")
    earlier = formatdate(mtime - 3600, usegmt=True).encode()
    assert call(app, "/media/avatars/me.webp", headers=[(b"if-modified-since", earlier)])[0] == 200
    assert call(app, "/media/avatars/me.webp", headers=[(b"if-modified-since", b"garbage")])[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/media/listings/ab/none.jpg",
        "/media/listings/ab",  # a directory
        "/media/",
        "/media/../outside.txt",
        "/media/%2e%2e/outside.txt",
        "/media/listings/../../outside.txt",
        "/media/listings/%2E%2E/%2E%2E/outside.txt",
        "/media//etc/passwd",
        "/media/%2Fetc%2Fpasswd",
        "/media/.hidden",
        "/media/link.txt",  # a symlink out of the root
        "/media/listings/ab/photo.jpg%00.png",
        "/media/listings\\ab\\photo.jpg",
    ],
)
def test_nothing_outside_the_root_or_missing_is_served(app, path):
    status, headers, body = call(app, path)
    assert (status, body) == (404, b"Not found.")
    assert headers["x-content-type-options"] == "nosniff"


def test_other_methods_are_refused_and_other_paths_go_to_django(app):
    status, headers, _ = call(app, "/media/avatars/me.webp", method="POST")
    assert (status, headers["allow"]) == (405, "GET, HEAD")
    assert call(app, "/")[0:3:2] == (299, b"django")
    assert call(app, "/mediax/avatars/me.webp")[0] == 299
    assert call(app, "/static/css/site.css")[0] == 299


def test_with_media_follows_serve_media(settings, root):
    settings.MEDIA_ROOT = root
    settings.SERVE_MEDIA = True
    wrapped = with_media(_inner)
    assert isinstance(wrapped, MediaFilesApp) and wrapped.prefix == "/media/"
    assert call(wrapped, "/media/avatars/me.webp")[0] == 200
    settings.MEDIA_URL = "https://media.example.com/"  # served by that host
    assert with_media(_inner) is _inner
    settings.MEDIA_URL, settings.SERVE_MEDIA = "/media/", False
    assert with_media(_inner) is _inner


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "True"),
        ({"SERVE_MEDIA": "false"}, "False"),
        ({"MEDIA_STORAGE": "s3", "AWS_STORAGE_BUCKET_NAME": "media", "SERVE_MEDIA": "true"}, "False"),
    ],
)
def test_serve_media_is_on_for_local_files_only(env, expected):
    environment = {k: v for k, v in os.environ.items() if k not in ("MEDIA_STORAGE", "SERVE_MEDIA")}
    result = subprocess.run(  # noqa: S603 - our interpreter
        [sys.executable, "-c", "from django.conf import settings; print(settings.SERVE_MEDIA)"],
        env={**environment, **env, "DJANGO_SETTINGS_MODULE": "marketplace.settings"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == expected, result.stderr
