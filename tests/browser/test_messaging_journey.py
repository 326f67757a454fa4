"""Buyer and seller message each other in two browser contexts, live and without JavaScript.

pytest-django's live server speaks WSGI (no WebSockets), so these tests start a real ASGI
server process (uvicorn, as `make serve` runs the application) on this run's test database,
cache (sessions) and Redis, with a channel layer prefix of their own.
"""

import uuid

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from messaging.models import Conversation, Message
from tests.factories import ListingFactory, UserFactory
from tests.messaging.test_live_servers import servers

pytestmark = pytest.mark.django_db(transaction=True)


class TestRedis:
    """The test channel layer's Redis (DB 15); the servers get a prefix of their own."""

    url = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]


@pytest.fixture
def asgi_server(tmp_path):
    with servers(tmp_path, TestRedis, count=1) as (port,):
        yield f"http://127.0.0.1:{port}"


def signed_in_context(chromium, base_url, user, csp_violations, *, javascript=True):
    context = chromium.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
    )
    context.set_default_timeout(15_000)
    if javascript:
        csp_violations.watch(context)
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base_url}])
    return context


def test_buyer_and_seller_message_each_other_live(chromium, asgi_server, csp_violations):
    listing = ListingFactory(title="Walnut record cabinet")
    seller = listing.seller
    buyer = UserFactory(first_name="Bea")
    seller_context = signed_in_context(chromium, asgi_server, seller, csp_violations)
    buyer_context = signed_in_context(chromium, asgi_server, buyer, csp_violations)
    try:
        seller_page = seller_context.new_page()
        seller_page.goto("/messages/")
        expect(seller_page.get_by_text("No conversations yet")).to_be_visible()

        # The buyer contacts the seller from the listing.
        buyer_page = buyer_context.new_page()
        buyer_page.goto(listing.get_absolute_url())
        buyer_page.get_by_role("link", name="Contact seller").click()
        buyer_page.get_by_label("Message").fill("Hello! Is the cabinet still available?")
        buyer_page.get_by_role("button", name="Send").click()
        conversation = Conversation.objects.get(listing=listing, buyer=buyer, seller=seller)
        expect(buyer_page).to_have_url(f"{asgi_server}/messages/{conversation.pk}/", timeout=15_000)
        expect(buyer_page.locator(".message-body")).to_have_text(["Hello! Is the cabinet still available?"])

        # The seller's inbox shows it without a reload, with the header's unread badge.
        row = seller_page.locator(f'[data-conversation-id="{conversation.pk}"]')
        expect(row).to_contain_text("Is the cabinet still available?")
        expect(row).to_contain_text("Walnut record cabinet")
        expect(seller_page.locator("[data-unread-count]")).to_have_text("1")

        # The seller opens it and replies over the socket; the buyer sees the reply live.
        row.get_by_role("link").click()
        expect(seller_page.locator(".message-body")).to_have_text(["Hello! Is the cabinet still available?"])
        expect(seller_page.locator("[data-unread-count]")).to_have_count(0)
        # The buyer's page: "Seen" under their message once the seller opened the conversation.
        expect(buyer_page.locator("[data-seen]")).to_have_text("Seen")
        seller_page.get_by_label("Message").fill("Yes, it is. Pick-up on Saturday?")
        seller_page.get_by_role("button", name="Send").click()
        expect(seller_page.locator(".message-body")).to_have_text(
            ["Hello! Is the cabinet still available?", "Yes, it is. Pick-up on Saturday?"]
        )
        expect(buyer_page.locator(".message-body")).to_have_text(
            ["Hello! Is the cabinet still available?", "Yes, it is. Pick-up on Saturday?"]
        )
        # The buyer saw the reply live (their page was open): the seller's page says "Seen".
        expect(seller_page.locator("[data-seen]")).to_have_text("Seen")
        reply = Message.objects.get(sender=seller)
        assert reply.read_at is not None
        # Sent over the socket, with the page's client id: stored once.
        assert Message.objects.count() == 2
        assert seller_page.locator(f'[data-message-id="{reply.pk}"]').count() == 1
    finally:
        seller_context.close()
        buyer_context.close()


def test_without_javascript_the_same_exchange_works_by_form(chromium, asgi_server, csp_violations):
    listing = ListingFactory(title="Teak side table")
    seller = listing.seller
    buyer = UserFactory()
    seller_context = signed_in_context(chromium, asgi_server, seller, csp_violations, javascript=False)
    buyer_context = signed_in_context(chromium, asgi_server, buyer, csp_violations, javascript=False)
    try:
        buyer_page = buyer_context.new_page()
        buyer_page.goto(listing.get_absolute_url())
        buyer_page.get_by_role("link", name="Contact seller").click()
        buyer_page.get_by_label("Message").fill("Would you take $80?")
        buyer_page.get_by_role("button", name="Send").click()
        expect(buyer_page.locator(".message-body")).to_have_text(["Would you take $80?"])
        conversation = Conversation.objects.get(listing=listing)

        seller_page = seller_context.new_page()
        seller_page.goto("/messages/")
        expect(seller_page.locator("[data-unread-count]")).to_have_text("1")
        seller_page.locator(f'[data-conversation-id="{conversation.pk}"]').get_by_role("link").click()
        seller_page.get_by_label("Message").fill("Make it $90 and it is yours.")
        seller_page.get_by_role("button", name="Send").click()
        expect(seller_page.locator(".message-body")).to_have_text(
            ["Would you take $80?", "Make it $90 and it is yours."]
        )

        buyer_page.reload()
        expect(buyer_page.locator(".message-body")).to_have_text(
            ["Would you take $80?", "Make it $90 and it is yours."]
        )
        expect(buyer_page.locator("[data-seen]")).to_have_text("Seen")  # the seller opened it
        # A double submit of the same rendered form (same client id) is stored once.
        client_id = buyer_page.locator('input[name="client_id"]').input_value()
        uuid.UUID(client_id)
        buyer_page.get_by_label("Message").fill("Deal.")
        buyer_page.get_by_role("button", name="Send").click()
        expect(buyer_page.locator(".message-body")).to_have_count(3)
        assert Message.objects.filter(client_id=client_id).count() == 1
        assert Message.objects.count() == 3
    finally:
        seller_context.close()
        buyer_context.close()
