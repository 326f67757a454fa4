"""With Redis stopped every page still works from the database, and nothing is lost.

The cache, the sessions' cache and the channel layer are pointed at a private redis-server of
this test (a free port, no persistence), never at the shared development Redis that other runs
use; the test stops it mid-way and starts it again (empty, as after a crash), walking the main
pages before, during and after, as one logged-in member and one visitor.
"""

import re
import uuid

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from listings.models import Listing
from listings.view_counts import view_counts_flush
from messaging.models import Message
from messaging.services import conversation_open
from payments.models import Transaction
from tests.factories import ListingFactory, SellerFactory, UserFactory
from tests.messaging.test_live_servers import PrivateRedis

PASSWORD = "correct horse battery staple"


@pytest.fixture
def redis(tmp_path, settings):
    server = PrivateRedis(tmp_path)
    server.start()
    caches = {alias: {**config} for alias, config in settings.CACHES.items()}
    caches["default"]["LOCATION"] = server.url
    caches["default"]["KEY_PREFIX"] = f"redis-down-{uuid.uuid4().hex[:8]}"
    settings.CACHES = caches  # Django resets its cache handlers on this change
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [server.url]}}
    }
    yield server
    server.stop()


def _pages(member, listing, conversation, order) -> list[str]:
    return [
        reverse("home"),
        reverse("listings:search") + "?q=lantern",
        reverse("listings:category", args=[listing.category.slug]),
        listing.get_absolute_url(),
        reverse("accounts:profile", args=[listing.seller_id]),
        reverse("messaging:inbox"),
        reverse("messaging:conversation", args=[conversation.pk]),
        reverse("payments:orders"),
        reverse("payments:order", args=[order.pk]) if order else reverse("payments:orders"),
        reverse("notifications:centre"),
        reverse("listings:favorites"),
        reverse("accounts:profile_edit"),
        reverse("sitemap"),
    ]


def _walk(client, pages) -> None:
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert response.wsgi_request.user.is_authenticated, url  # the session held


def _send_by_form(client, conversation, body: str) -> None:
    page = client.get(reverse("messaging:conversation", args=[conversation.pk])).content.decode()
    client_id = re.search(r'name="client_id" value="([^"]+)"', page)[1]
    url = reverse("messaging:conversation", args=[conversation.pk])
    response = client.post(url, {"client_id": client_id, "body": body})
    assert response.status_code == 302, response.content.decode()[:500]


@pytest.mark.django_db(transaction=True)
def test_pages_sessions_messages_orders_and_counts_survive_a_redis_outage(redis, ledger_db, caplog):
    seller = SellerFactory()
    listing = ListingFactory(seller=seller, title="Brass lantern")
    other = ListingFactory(seller=seller, title="Copper lantern")
    member = UserFactory(email="buyer@example.com")
    member.set_password(PASSWORD)
    member.save()
    conversation, _ = conversation_open(buyer=member, seller=seller, listing=listing)

    browser = Client()
    login = browser.post(reverse("accounts:login"), {"username": member.email, "password": PASSWORD})
    assert login.status_code == 302
    session_key = browser.session.session_key
    pages = _pages(member, listing, conversation, None)
    _walk(browser, pages)
    _send_by_form(browser, conversation, "Before the outage")
    assert Client().get(listing.get_absolute_url()).status_code == 200
    # Views so far (the member's walk and a visitor) are pending in Redis: the periodic flush
    # moves them to the database (a Redis that crashes loses at most one flush interval).
    assert view_counts_flush().views == 2

    redis.stop()

    # Every page from the database, the member still logged in (cached_db sessions).
    _walk(browser, pages)
    # A message is stored and an order placed while Redis is down (rate limits fail open).
    _send_by_form(browser, conversation, "During the outage")
    response = browser.post(reverse("payments:checkout_start", args=[other.slug]))
    assert response.status_code == 302
    order = Transaction.objects.get(listing=other, buyer=member)
    assert browser.get(reverse("payments:order", args=[order.pk])).status_code == 200
    # A visitor can log in too, and views of the listing page are counted in the database.
    visitor = Client()
    assert visitor.get(listing.get_absolute_url()).status_code == 200
    assert visitor.get(other.get_absolute_url()).status_code == 200
    assert Listing.objects.get(pk=listing.pk).view_count == 2 + 2  # the walk's view and the visitor's
    newcomer = UserFactory(email="newcomer@example.com")
    newcomer.set_password(PASSWORD)
    newcomer.save()
    fresh = Client()
    login = fresh.post(reverse("accounts:login"), {"username": newcomer.email, "password": PASSWORD})
    assert login.status_code == 302 and fresh.get(reverse("home")).wsgi_request.user == newcomer
    assert any("Redis unavailable" in record.getMessage() for record in caplog.records)

    redis.start()  # empty, as after a crash

    pages = _pages(member, listing, conversation, order)
    _walk(browser, pages)  # same session: it lives in the database
    assert Session.objects.filter(session_key=session_key).exists()
    _send_by_form(browser, conversation, "After the outage")
    assert Client().get(listing.get_absolute_url()).status_code == 200

    # Nothing lost: every message once, the order, and every view of the listing page.
    stored = Message.objects.filter(conversation=conversation).order_by("created_at")
    assert list(stored.values_list("message", flat=True)) == [
        "Before the outage",
        "During the outage",
        "After the outage",
    ]
    assert Transaction.objects.filter(buyer=member).count() == 1
    assert order.status == Transaction.Status.PENDING
    assert view_counts_flush().views == 2  # the walk's view and one more, back in Redis
    assert Listing.objects.get(pk=listing.pk).view_count == 2 + 2 + 2


@pytest.mark.django_db
def test_expired_sessions_are_cleared_by_a_daily_job():
    from datetime import timedelta

    from django.utils import timezone
    from procrastinate.contrib.django import app

    from tests.jobs import run_jobs

    Session.objects.create(
        session_key="x" * 32, session_data="", expire_date=timezone.now() - timedelta(days=1)
    )
    Session.objects.create(
        session_key="y" * 32, session_data="", expire_date=timezone.now() + timedelta(days=1)
    )
    app.perform_import_paths()
    periodic = {p.task.name: p for p in app.periodic_registry.periodic_tasks.values()}
    assert periodic["marketplace.clear_expired_sessions"].cron == "43 3 * * *"
    app.tasks["marketplace.clear_expired_sessions"].defer(timestamp=0)
    assert run_jobs() == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == ["y" * 32]
