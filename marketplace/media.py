"""Uploaded media (listing photos, avatars) served by the ASGI application itself.

With ``FileSystemStorage`` (the default) nothing else serves ``MEDIA_ROOT``: WhiteNoise serves
only the static files it found at start-up, and Django's ``static()`` route exists only in
debug. ``MediaFilesApp`` answers ``GET``/``HEAD`` under ``MEDIA_URL`` before Django (no session,
no database), streams the file in chunks from a thread (bounded memory) and marks it
immutable: every stored name is unique, so a URL never changes content. ``SERVE_MEDIA=false``
turns it off where a proxy or CDN serves ``MEDIA_ROOT``; with ``MEDIA_STORAGE=s3`` the
storage's own URLs are used and this is not installed.

Only public media lives under ``MEDIA_ROOT``: private files (message attachments, exports)
must never be stored there.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import stat
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote

CHUNK_SIZE = 64 * 1024
# An image is never a document: no script runs even if a crafted file is opened directly.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'; sandbox"),
    (b"cross-origin-resource-policy", b"same-site"),
]


class MediaFilesApp:
    """ASGI middleware: files under ``root`` at ``prefix`` (e.g. ``/media/``); the rest goes
    to ``app``."""

    def __init__(self, app, *, root: str | os.PathLike, prefix: str) -> None:
        self.app = app
        self.root = Path(root).resolve()
        self.prefix = "/" + prefix.strip("/") + "/"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"Method not allowed.", [(b"allow", b"GET, HEAD")])
            return
        path = self._resolve(scope["path"][len(self.prefix) :])
        opened = await asyncio.to_thread(_open, path) if path else None
        if opened is None:
            await _respond(send, 404, b"Not found.")
            return
        file, size, mtime = opened
        try:
            last_modified = formatdate(mtime, usegmt=True).encode()
            if _not_modified_since(scope, mtime):
                await _respond(send, 304, b"", [(b"last-modified", last_modified)], body_allowed=False)
                return
            content_type, encoding = mimetypes.guess_type(path.name)
            headers = [
                (b"content-type", (content_type or "application/octet-stream").encode()),
                (b"content-length", str(size).encode()),
                (b"last-modified", last_modified),
                (b"cache-control", b"public, max-age=31536000, immutable"),
                *SECURITY_HEADERS,
            ]
            if encoding:
                headers.append((b"content-encoding", encoding.encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            while chunk := await asyncio.to_thread(file.read, CHUNK_SIZE):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await asyncio.to_thread(file.close)

    def _resolve(self, name: str) -> Path | None:
        """The file's path inside the root, or None for anything that would leave it (``..``,
        absolute paths, symlinks out, NUL bytes)."""
        name = unquote(name)
        if not name or "\x00" in name or "\\" in name:
            return None
        parts = name.split("/")
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            return None
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root):
            return None
        return path


def _open(path: Path):
    """(file, size, mtime) of a regular file, or None."""
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed by the caller after streaming
    except OSError:
        return None
    info = os.fstat(file.fileno())
    if not stat.S_ISREG(info.st_mode):
        file.close()
        return None
    return file, info.st_size, info.st_mtime


def _not_modified_since(scope, mtime: float) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"if-modified-since":
            try:
                since = parsedate_to_datetime(value.decode("latin-1")).timestamp()
            except (TypeError, ValueError, IndexError):
                return False
            return int(mtime) <= since
    return False


async def _respond(send, status: int, body: bytes, headers=(), *, body_allowed: bool = True) -> None:
    start_headers = [*headers, *SECURITY_HEADERS]
    if body_allowed:
        start_headers += [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
        ]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body if body_allowed else b""})


def with_media(app):
    """``app`` serving ``MEDIA_ROOT`` at ``MEDIA_URL`` when ``SERVE_MEDIA`` is on."""
    from django.conf import settings

    if not settings.SERVE_MEDIA or "://" in settings.MEDIA_URL:  # an absolute URL: served elsewhere
        return app
    return MediaFilesApp(app, root=settings.MEDIA_ROOT, prefix=settings.MEDIA_URL)
