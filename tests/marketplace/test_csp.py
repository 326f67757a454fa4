"""Content-Security-Policy on every page kind (django-csp; ``marketplace/csp.py``).

Each page answers with the enforced policy and a fresh nonce, and its HTML holds nothing the
policy would block: no inline script or style without that nonce, no inline event handler, no
style attribute, no ``javascript:`` URL. Every route of the site is either visited here or
named as one that answers no page; every template file is checked for the same inline content,
so a new page or template cannot skip the rule. The browser tests (``tests/browser``) fail on
any violation Chromium reports.
"""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.core.files.storage import FileSystemStorage, storages
from django.template import engines
from django.template.utils import get_app_template_dirs
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from marketplace import csp as marketplace_csp
from payments.models import Transaction
from tests.factories import (
    CategoryFactory,
    ListingFactory,
    SellerFactory,
    TransactionFactory,
    UserFactory,
)
from tests.test_admin import CASES as ADMIN_CASES

pytestmark = pytest.mark.django_db

HEADER = "Content-Security-Policy"


@pytest.fixture(autouse=True)
def _sessions_in_signed_cookies(settings):
    """Logins stay out of the Redis database concurrent test runs share (see test_admin)."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"


def directives(response) -> dict[str, list[str]]:
    policy = response[HEADER]
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        assert name not in parsed, f"{name} twice in {policy}"
        parsed[name] = values
    return parsed


def nonce_of(response) -> str:
    sources = directives(response)["script-src"]
    nonces = [s[len("'nonce-") : -1] for s in sources if s.startswith("'nonce-")]
    assert len(nonces) == 1, sources
    assert directives(response)["style-src"].count(f"'nonce-{nonces[0]}'") == 1
    return nonces[0]


# --- What the policy blocks, found in HTML ------------------------------------------------------
EVENT_HANDLER = re.compile(r"^on[a-z]+$")


class InlineContent(HTMLParser):
    """Everything in a page that a policy without 'unsafe-inline' blocks unless nonced."""

    def __init__(self, nonce: str | None):
        super().__init__(convert_charrefs=True)
        self.nonce = nonce
        self.problems: list[str] = []
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if EVENT_HANDLER.match(name):
                self.problems.append(f"<{tag} {name}=...> (inline event handler)")
            if name == "style":
                self.problems.append(f'<{tag} style="{value}"> (style attribute)')
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"<{tag} {name}={value!r}> (javascript: URL)")
        if tag == "script":
            self.scripts.append(attributes)
            data_block = (attributes.get("type") or "").lower() in ("application/json", "application/ld+json")
            if not attributes.get("src") and not data_block and attributes.get("nonce") != self.nonce:
                self.problems.append(f"<script> inline without the nonce: {attributes}")
        if tag == "style" and (self.nonce is None or attributes.get("nonce") != self.nonce):
            self.problems.append("<style> without the nonce")


def inline_problems(html: str, nonce: str | None) -> InlineContent:
    parser = InlineContent(nonce)
    parser.feed(html)
    parser.close()
    return parser


def test_the_checker_finds_everything_the_policy_blocks():
    html = (
        '<p style="color:red" onclick="x()">a</p><a href=" JavaScript:go()">b</a>'
        '<script>alert(1)</script><script nonce="old">b()</script><style>p{}</style>'
        '<script nonce="N">ok()</script><style nonce="N">p{}</style><script src="/s.js"></script>'
        '<script type="application/json">{"data": 1}</script><img src="/x.png" alt="">'
    )
    assert inline_problems(html, "N").problems == [
        '<p style="color:red"> (style attribute)',
        "<p onclick=...> (inline event handler)",
        "<a href=' JavaScript:go()'> (javascript: URL)",
        "<script> inline without the nonce: {}",
        "<script> inline without the nonce: {'nonce': 'old'}",
        "<style> without the nonce",
    ]


def assert_page_is_clean(response, *, site_page: bool) -> None:
    assert response.status_code in (200, 400, 404, 429), response.status_code
    assert response["Content-Type"].startswith("text/html")
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"][0] == "'self'"
    for directive in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in policy[directive] and "'unsafe-eval'" not in policy[directive]
    nonce = nonce_of(response)
    found = inline_problems(response.content.decode(), nonce)
    assert not found.problems, found.problems
    if site_page:  # the site's own templates nonce every script, external ones too
        assert all(script.get("nonce") == nonce for script in found.scripts), found.scripts


# --- Every page of the site ---------------------------------------------------------------------
class World:
    """One of each thing a page shows, and who may see it."""

    def __init__(self):
        self.category = CategoryFactory()
        self.seller = SellerFactory(stripe_connect_id="acct_csp_seller")
        self.buyer = UserFactory()
        self.staff = UserFactory(is_staff=True, is_superuser=True)
        self.listing = ListingFactory(seller=self.seller, category=self.category, title="Walnut desk")
        self.unlisted = ListingFactory(seller=self.seller, category=self.category, visibility="unlisted")
        self.sold = TransactionFactory(
            listing=ListingFactory(seller=self.seller, category=self.category),
            buyer=self.buyer,
            status=Transaction.Status.COMPLETED,
            completed_at=timezone.now(),
        )
        self.pending = TransactionFactory(
            listing=ListingFactory(seller=self.seller, category=self.category, status="reserved"),
            buyer=self.buyer,
            status=Transaction.Status.PENDING,
            completed_at=None,
        )


def _conversation(w: World):
    """The buyer's conversation with the seller about the listing, with a message in it."""
    from messaging.services import conversation_open, message_send

    conversation, _ = conversation_open(buyer=w.buyer, seller=w.seller, listing=w.listing)
    message_send(
        conversation=conversation, sender=w.buyer, body="Is it still for sale?", client_id=uuid.uuid4()
    )
    return conversation.pk


def _centre_with_a_notification(w: World) -> str:
    """The notification centre, with a notification for the seller in it."""
    from notifications.models import NotificationType
    from notifications.services import notify

    notify(user=w.seller, type=NotificationType.LISTING_SOLD, title="You sold it", link="/", key="csp")
    return reverse("notifications:centre")


def _unsubscribe_token(w: World) -> str:
    from notifications.unsubscribe import unsubscribe_token

    return unsubscribe_token(w.buyer.pk, "payout_sent")


# route name -> (who asks: None for anonymous, or a World attribute; the path)
PAGES = {
    "home": (None, lambda w: reverse("home")),
    "listings:search": (None, lambda w: reverse("listings:search") + "?q=walnut"),
    "listings:category": (None, lambda w: reverse("listings:category", args=[w.category.slug])),
    "listings:favorites": ("buyer", lambda w: reverse("listings:favorites")),
    "listings:detail": ("buyer", lambda w: w.listing.get_absolute_url()),
    "listings:detail_unlisted": (
        None,
        lambda w: reverse("listings:detail_unlisted", args=[w.unlisted.slug, w.unlisted.share_token]),
    ),
    "accounts:signup": (None, lambda w: reverse("accounts:signup")),
    "accounts:signup_done": (None, lambda w: reverse("accounts:signup_done")),
    "accounts:login": (None, lambda w: reverse("accounts:login")),
    "accounts:profile_edit": ("buyer", lambda w: reverse("accounts:profile_edit")),
    "accounts:email_change": ("buyer", lambda w: reverse("accounts:email_change")),
    "accounts:email_change_confirm": (
        "buyer",
        lambda w: reverse("accounts:email_change_confirm", args=["x"]),
    ),
    "accounts:verify_email": (None, lambda w: reverse("accounts:verify_email", args=["not-a-token"])),
    "accounts:password_change": ("buyer", lambda w: reverse("accounts:password_change")),
    "accounts:password_change_done": ("buyer", lambda w: reverse("accounts:password_change_done")),
    "accounts:password_reset": (None, lambda w: reverse("accounts:password_reset")),
    "accounts:password_reset_done": (None, lambda w: reverse("accounts:password_reset_done")),
    "accounts:password_reset_confirm": (
        None,
        lambda w: reverse("accounts:password_reset_confirm", args=["Mw", "set-password"]),
    ),
    "accounts:password_reset_complete": (None, lambda w: reverse("accounts:password_reset_complete")),
    "accounts:profile": (None, lambda w: reverse("accounts:profile", args=[w.seller.pk])),
    "sell:dashboard": ("seller", lambda w: reverse("sell:dashboard")),
    "sell:start": ("buyer", lambda w: reverse("sell:start")),
    "sell:sales": ("seller", lambda w: reverse("sell:sales")),
    "sell:listing_create": ("seller", lambda w: reverse("sell:listing_create")),
    "sell:listing_edit": ("seller", lambda w: reverse("sell:listing_edit", args=[w.listing.pk])),
    "sell:listing_preview": ("seller", lambda w: reverse("sell:listing_preview", args=[w.listing.pk])),
    "sell:listing_photos": ("seller", lambda w: reverse("sell:listing_photos", args=[w.listing.pk])),
    "payments:checkout": ("buyer", lambda w: reverse("payments:checkout", args=[w.pending.pk])),
    "payments:orders": ("buyer", lambda w: reverse("payments:orders")),
    "payments:order": ("seller", lambda w: reverse("payments:order", args=[w.sold.pk])),
    "reviews:to_write": ("buyer", lambda w: reverse("reviews:to_write")),
    "payments:connect_return": ("seller", lambda w: reverse("payments:connect_return")),
    "payments:connect_simulated": (
        "seller",
        lambda w: reverse("payments:connect_simulated", args=[w.seller.stripe_connect_id]),
    ),
    "messaging:inbox": ("buyer", lambda w: reverse("messaging:inbox")),
    "messaging:new": ("buyer", lambda w: f"{reverse('messaging:new')}?listing={w.listing.pk}"),
    "messaging:conversation": (
        "seller",
        lambda w: reverse("messaging:conversation", args=[_conversation(w)]),
    ),
    "messaging:blocked": ("seller", lambda w: reverse("messaging:blocked")),
    "privacy:your_data": ("buyer", lambda w: reverse("privacy:your_data")),
    "privacy:delete_account": ("buyer", lambda w: reverse("privacy:delete_account")),
    "offers:list": ("seller", lambda w: f"{reverse('offers:list')}?box=received"),
    "alerts:saved_searches": ("buyer", lambda w: reverse("alerts:saved_searches")),
    "alerts:following": ("buyer", lambda w: reverse("alerts:following")),
    "notifications:centre": ("seller", lambda w: _centre_with_a_notification(w)),
    "moderation:report": ("buyer", lambda w: reverse("moderation:report", args=["listing", w.listing.pk])),
    "notifications:unsubscribe": (
        None,
        lambda w: reverse("notifications:unsubscribe", args=[_unsubscribe_token(w)]),
    ),
}
# Routes that answer no HTML page of their own to a GET: form posts (their refusals redirect to
# a page above, or render one of the templates checked below), JSON, files, redirects.
NOT_PAGES = {
    "listings:favorite",
    "listings:unfavorite",
    "accounts:logout",
    "accounts:verify_email_resend",
    "sell:listing_publish",
    "sell:listing_unpublish",
    "sell:listing_mark_sold",
    "sell:listing_archive",
    "sell:listing_delete",
    "sell:photo_upload",
    "sell:photo_delete",
    "sell:photo_move",
    "sell:photo_primary",
    "payments:stripe-webhook",
    "payments:checkout_start",
    "payments:checkout_pay",
    "payments:checkout_confirm",
    "payments:checkout_cancel",
    "payments:order_confirm_receipt",
    "payments:order_refund",
    "payments:order_release_held_payout",
    "reviews:submit",
    "reviews:edit",
    "reviews:respond",
    "reviews:flag",
    "payments:connect_start",
    "messaging:attachment",  # a picture (its own sandboxing policy: tests/messaging/test_attachments.py)
    "messaging:archive",
    "messaging:unarchive",
    "messaging:report",
    "messaging:block",
    "messaging:unblock",
    "offers:make",
    "alerts:saved_search_save",
    "alerts:saved_search_update",
    "alerts:saved_search_delete",
    "alerts:saved_search_unsubscribe",  # a signed link's confirm page (tests/alerts/test_views.py)
    "alerts:follow",
    "alerts:unfollow",
    "offers:action",
    "offers:floor",
    "notifications:open",  # redirects to what the notification is about
    "staff_dashboard",  # an admin page (under /admin/, outside its URLconf): ADMIN_PAGES below
    "privacy:export_request",  # a form post; its 429 renders privacy:your_data's template
    "privacy:export_download",  # a zip file
    "notifications:mark_read",
    "notifications:mark_all_read",
    "notifications:preferences",
    "payments:connect_refresh",
    "health",
    "healthz",  # JSON probes (tests/marketplace/test_health.py)
    "readyz",
    "robots",
    "sitemap",
    "sitemap-section",
}


def site_route_names() -> set[str]:
    names = set()

    def walk(patterns, namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue  # the admin's pages are visited model by model below
                inner = pattern.namespace or namespace
                walk(
                    pattern.url_patterns, f"{namespace}:{inner}" if namespace and pattern.namespace else inner
                )
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    walk(get_resolver().url_patterns)
    return names


def test_every_route_is_a_page_checked_here_or_named_as_no_page():
    unclassified = site_route_names() - set(PAGES) - NOT_PAGES
    assert not unclassified, (
        f"New routes {sorted(unclassified)}: add each to PAGES (a GET that renders a page) or "
        "NOT_PAGES in tests/marketplace/test_csp.py."
    )


@pytest.fixture
def world(settings):
    settings.STRIPE_CONNECT_SIMULATED = True
    return World()


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_page_has_the_policy_with_a_nonce_and_no_inline_content(client, world, name):
    who, url = PAGES[name]
    if who:
        client.force_login(getattr(world, who))
    response = client.get(url(world))
    assert response.status_code != 302, f"{name} redirected to {response['Location']}"
    assert_page_is_clean(response, site_page=True)


def test_not_found_page_has_the_policy(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert HEADER in response


def test_each_response_gets_its_own_nonce(client, world):
    first, second = client.get(reverse("home")), client.get(reverse("home"))
    assert nonce_of(first) != nonce_of(second)
    checkout = reverse("payments:checkout", args=[world.pending.pk])
    client.force_login(world.buyer)
    response = client.get(checkout)
    nonce = nonce_of(response)
    scripts = inline_problems(response.content.decode(), nonce).scripts
    assert [s["src"] for s in scripts][0] == settings.STRIPE_JS_URL
    assert all(s["nonce"] == nonce for s in scripts)


def test_json_and_redirect_answers_carry_the_policy_too(client, world):
    client.force_login(world.buyer)
    favorite = client.post(
        reverse("listings:favorite", args=[world.listing.slug]), HTTP_ACCEPT="application/json"
    )
    assert favorite.status_code == 200 and HEADER in favorite
    assert HEADER in client.get(reverse("payments:connect_refresh"))
    assert HEADER in client.get(reverse("robots"))


# --- The admin ------------------------------------------------------------------------------
# The staff dashboard's SVG charts use presentation attributes only: no style attribute, no script.
ADMIN_PAGES = ["admin:index", "admin:password_change", "admin:moderation_report_queue", "staff_dashboard"]


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_pages_have_the_policy_and_no_inline_content(client, name):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert_page_is_clean(client.get(reverse(name)), site_page=False)


def test_admin_login_has_the_policy(client):
    assert_page_is_clean(client.get(reverse("admin:login")), site_page=False)


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda model: model._meta.label)
def test_every_admin_changelist_and_add_form_has_the_policy_and_no_inline_content(client, model):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    info = (model._meta.app_label, model._meta.model_name)
    for url in (reverse("admin:{}_{}_changelist".format(*info)), reverse("admin:{}_{}_add".format(*info))):
        response = client.get(url)
        if response.status_code == 403 and url.endswith("/add/"):
            continue  # rows made by services only: no add form
        assert response.status_code == 200, url
        assert_page_is_clean(response, site_page=False)


@pytest.mark.parametrize("case", ADMIN_CASES, ids=lambda case: case.model.__name__)
def test_admin_object_pages_have_the_policy_and_no_inline_content(client, case):
    """Change form, history and delete confirmation of a row of each model."""
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    obj = case.make()
    info = (obj._meta.app_label, obj._meta.model_name)
    for view in ("change", "history", "delete"):
        url = reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[obj.pk])
        response = client.get(url)
        if response.status_code == 403 and view == "delete":
            continue  # not deletable in the admin (ledger, events): no page
        assert response.status_code == 200, url
        assert_page_is_clean(response, site_page=False)


# --- Every template file -----------------------------------------------------------------------
def template_files() -> list[Path]:
    """The project's templates (``templates/`` and its apps'), not Django's own."""
    roots = [Path(d) for d in (*engines["django"].engine.dirs, *get_app_template_dirs("templates"))]
    base = Path(settings.BASE_DIR).resolve()
    files = []
    for root in roots:
        if root.resolve().is_relative_to(base) and ".venv" not in root.resolve().parts:
            files += [p for p in root.rglob("*.html") if "emails" not in p.relative_to(root).parts[:1]]
    return sorted(set(files))


TEMPLATE_TAG = re.compile(r"{%.*?%}|{{.*?}}|{#.*?#}", re.S)


def test_no_template_of_the_site_holds_inline_script_or_style():
    """Emails are not web pages (no policy applies to them; mail clients want inline styles)."""
    files = template_files()
    assert any(p.name == "base.html" for p in files)
    problems = {}
    for path in files:
        source = path.read_text()
        # A script or style element is fine when it carries the request's nonce.
        source = source.replace('nonce="{{ request.csp_nonce }}"', 'nonce="N"')
        found = inline_problems(TEMPLATE_TAG.sub("", source), "N").problems
        if found:
            problems[str(path.relative_to(settings.BASE_DIR))] = found
    assert not problems, problems


# --- Sources that follow other settings -----------------------------------------------------------
def test_stripe_sources_follow_the_settings(client, settings):
    settings.STRIPE_MODE = "local"
    settings.STRIPE_JS_URL = "http://127.0.0.1:8420/js.stripe.com/v3/"
    settings.STRIPE_API_BASE = "http://127.0.0.1:8420"
    policy = directives(client.get(reverse("accounts:login")))
    assert policy["script-src"][:2] == ["'self'", policy["script-src"][1]]
    assert "http://127.0.0.1:8420" in policy["script-src"]
    assert "http://127.0.0.1:8420" in policy["connect-src"]
    assert "http://127.0.0.1:8420" in policy["frame-src"]
    assert policy["form-action"] == ["'self'"]
    assert not any("stripe.com" in source for values in policy.values() for source in values)

    settings.STRIPE_MODE = "live"
    settings.STRIPE_JS_URL = "https://js.stripe.com/v3/"
    settings.STRIPE_API_BASE = "https://api.stripe.com"
    policy = directives(client.get(reverse("accounts:login")))
    assert {"https://js.stripe.com", "https://*.js.stripe.com"} <= set(policy["script-src"])
    assert {"https://js.stripe.com", "https://hooks.stripe.com"} <= set(policy["frame-src"])
    assert policy["connect-src"] == ["'self'", "https://api.stripe.com"]
    # The "Set up payouts" POST redirects to Stripe's hosted onboarding.
    assert policy["form-action"] == ["'self'", "https://connect.stripe.com"]
    assert "http://127.0.0.1:8420" not in str(policy)


@pytest.mark.parametrize(
    ("options", "origin"),
    [
        ({"custom_domain": "media.example.com"}, "https://media.example.com"),
        (
            {"endpoint_url": "http://127.0.0.1:9000", "addressing_style": "path", "querystring_auth": False},
            "http://127.0.0.1:9000",
        ),
        (
            {"region_name": "eu-west-1", "addressing_style": "virtual", "querystring_auth": False},
            "https://photos.s3",  # the bucket's own host, as boto3 names it for the region
        ),
    ],
    ids=["custom-domain", "minio-path-style", "aws-virtual-host"],
)
def test_images_may_come_from_the_media_storage(client, settings, options, origin):
    """The origin is the one the storage links photos with (S3Storage.url makes no request)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": "photos", **options},
        },
    }
    photo_origin = marketplace_csp.origin(storages["default"].url("listings/x.jpg"))
    assert photo_origin.startswith(origin)
    assert directives(client.get(reverse("accounts:login")))["img-src"] == ["'self'", photo_origin]


class StorageWithoutURLs(FileSystemStorage):
    def url(self, name):
        raise RuntimeError("no credentials")


def test_a_media_storage_that_gives_no_url_does_not_break_pages(client, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{__name__}.StorageWithoutURLs"},
    }
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
    assert directives(response)["img-src"] == ["'self'"]


def test_local_media_and_extra_image_origins(client, settings):
    policy = directives(client.get(reverse("accounts:login")))
    assert policy["img-src"] == ["'self'"]  # the local disk is served under MEDIA_URL
    settings.CSP_MEDIA_ORIGINS = ["https://cdn.example.com"]
    assert directives(client.get(reverse("accounts:login")))["img-src"] == [
        "'self'",
        "https://cdn.example.com",
    ]


def test_static_files_on_another_origin(client, settings):
    settings.STATIC_URL = "https://static.example.com/assets/"
    policy = directives(client.get(reverse("accounts:login")))
    for directive in ("script-src", "style-src", "img-src", "font-src"):
        assert "https://static.example.com" in policy[directive]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://js.stripe.com/v3/", "https://js.stripe.com"),
        ("http://127.0.0.1:8420/js.stripe.com/v3/", "http://127.0.0.1:8420"),
        ("//cdn.example.com/static/", "https://cdn.example.com"),
        ("/static/", None),
        ("static/", None),
        ("", None),
        ("javascript:alert(1)", None),
    ],
)
def test_origin(url, expected):
    assert marketplace_csp.origin(url) == expected
