"""Whole pages as visitors who are not signed in see them, cached in Redis (the listing page,
search results).

Such a visitor's page depends on nothing of theirs but the CSP nonce, which is swapped for a
fresh one on every hit, once these are ruled out (``visitor_page_key`` answers None): a
signed-in viewer (capabilities, favorite and follow state, CSRF tokens, the header), flash
messages waiting to be shown. A page that handed out a CSRF token while rendering is never
stored. The caller's key names what the page shows (versions, rows' ``updated_at``, the query);
``visitor_page_key`` adds the scheme, host and path (canonical URLs) and the static
manifest's hash (a deploy never serves a page that links to files that are gone).
"""

import hashlib

from django.contrib.messages import get_messages
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.cache import cache
from django.http import HttpResponse


def _assets_fingerprint() -> str:
    """The static manifest's hash (every hashed file name; a deploy that changes any asset
    changes it), or "" without a manifest (development: static URLs are not hashed)."""
    return getattr(staticfiles_storage, "manifest_hash", "") or ""


def visitor_page_key(request, what: str) -> str | None:
    """``what`` (the caller's description of the content) made into the key of this page as
    every visitor who is not signed in sees it at this URL, or None when this request's page
    may differ from theirs (signed in, messages to show)."""
    if request.user.is_authenticated or len(get_messages(request)):
        return None
    where = f"{request.scheme}://{request.get_host()}{request.get_full_path()}|{_assets_fingerprint()}"
    return f"{what}:visitor:{hashlib.sha256(where.encode()).hexdigest()[:32]}"


def cached_visitor_page(request, key: str) -> tuple[HttpResponse, dict] | None:
    """The page under ``key`` with this request's CSP nonce in place of the one it was
    rendered with (a nonce is never served twice), and the extra data filed with it; or None."""
    cached = cache.get(key)
    if cached is None:
        return None
    content = cached["content"]
    if cached["nonce"] is not None:
        content = content.replace(cached["nonce"], f'nonce="{request.csp_nonce}"'.encode())
    response = HttpResponse(content)
    for header, value in cached["headers"].items():
        response[header] = value
    return response, cached["extra"]


def cache_visitor_page(
    request, key: str, response: HttpResponse, timeout: int, *, headers=(), extra: dict | None = None
) -> None:
    """File ``response`` (its ``headers`` named, and ``extra``) under ``key`` for ``timeout``
    seconds, unless it is not a plain 200 or rendering it handed out a CSRF token (a form
    for this visitor only)."""
    if response.status_code != 200 or request.META.get("CSRF_COOKIE_NEEDS_UPDATE"):
        return
    nonce = getattr(request, "_csp_nonce", None)  # set only if the page asked for it
    entry = {
        "content": response.content,
        "nonce": f'nonce="{nonce}"'.encode() if isinstance(nonce, str) else None,
        "headers": {header: response[header] for header in headers if header in response},
        "extra": extra or {},
    }
    cache.set(key, entry, timeout)
