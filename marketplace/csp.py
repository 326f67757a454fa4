"""Content-Security-Policy: django-csp's middleware, plus the sources that follow other settings.

The fixed policy is ``settings.CONTENT_SECURITY_POLICY`` (django-csp 4's dict): ``'self'`` only,
scripts and styles from static files or with the request's nonce, no plugins, no framing, forms
posting only to the site. The sources that depend on other settings are added here to every
response, read when the response is built, so they follow those settings wherever they come
from (the environment, ``.data/services.env`` written by ``marketplace.embedded``, a test):

- Stripe.js: ``STRIPE_JS_URL``'s origin may run scripts and frames, ``STRIPE_API_BASE``'s
  origin may be fetched (in local mode both are the localstripe server). With real Stripe
  (``STRIPE_MODE=live``), the hosts Stripe's integration security guide lists for Elements and
  3-D Secure too, and Connect's hosted onboarding as a form target (Chrome applies
  ``form-action`` to the redirect that follows the "Set up payouts" POST).
- Media: the origin of a URL the default storage gives (S3, a custom domain or a CDN); none
  for the local disk under ``MEDIA_URL``. ``CSP_MEDIA_ORIGINS`` adds origins by hand.
- Static files on another origin (an absolute ``STATIC_URL``) for scripts, styles, images and
  fonts.

Every HTML response carries a nonce in its policy, whether or not the page used
``request.csp_nonce``, so a template can always add ``nonce="{{ request.csp_nonce }}"``.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.files.storage import storages

logger = logging.getLogger(__name__)

# Stripe's documented sources for Stripe.js, Elements and 3-D Secure, and Connect's hosted
# onboarding (a redirect after our POST), used with the real API only.
STRIPE_LIVE_SOURCES: dict[str, list[str]] = {
    "script-src": ["https://js.stripe.com", "https://*.js.stripe.com"],
    "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"],
    "connect-src": ["https://api.stripe.com"],
    "form-action": ["https://connect.stripe.com"],
}

# The name asked of the default storage to learn where its files are served from.
_PROBE_NAME = "csp-origin-probe.jpg"


def origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL; None for a relative one."""
    if not url:
        return None
    parts = urlsplit(url if "://" in url or not url.startswith("//") else f"https:{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


_media_cache: tuple[object, tuple[str, ...]] | None = None


def media_origins() -> list[str]:
    """Where the default storage serves files from, when that is not this site.

    Asked of the storage itself (``url()`` builds a URL without any request to the store), so
    a custom domain, a virtual-hosted or path-style bucket and an S3-compatible endpoint all
    come out as the pages will link them. Kept per storage instance (Django makes a new one
    when ``STORAGES`` changes).
    """
    global _media_cache
    storage = storages["default"]
    if _media_cache is None or _media_cache[0] is not storage:
        try:
            found = origin(storage.url(_PROBE_NAME))
        except Exception:  # a misconfigured store must not turn every page into a 500
            logger.exception("CSP: the media storage gave no URL; images from it are refused.")
            found = None
        _media_cache = (storage, (found,) if found else ())
    return [*_media_cache[1], *settings.CSP_MEDIA_ORIGINS]


def derived_sources() -> dict[str, list[str]]:
    """The sources this site's other settings call for, per directive (see the module doc)."""
    sources: dict[str, list[str]] = {}

    def add(directive: str, *values: str | None) -> None:
        for value in values:
            if value and value not in sources.setdefault(directive, []):
                sources[directive].append(value)

    stripe_js = origin(settings.STRIPE_JS_URL)
    add("script-src", stripe_js)
    add("frame-src", stripe_js)
    add("connect-src", origin(settings.STRIPE_API_BASE))
    if settings.STRIPE_MODE == "live":
        for directive, values in STRIPE_LIVE_SOURCES.items():
            add(directive, *values)
    add("img-src", *media_origins())
    static = origin(settings.STATIC_URL)
    for directive in ("script-src", "style-src", "img-src", "font-src"):
        add(directive, static)
    return sources


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware with ``derived_sources()`` added to the enforced policy."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        update = derived_sources()
        for directive, values in (parts.update or {}).items():  # a view's @csp_update
            update.setdefault(directive, [])
            update[directive] = [*update[directive], *([values] if isinstance(values, str) else values)]
        parts.update = update
        if parts.nonce is None and response.get("Content-Type", "").startswith("text/html"):
            parts.nonce = self._make_nonce(request)
        return parts
