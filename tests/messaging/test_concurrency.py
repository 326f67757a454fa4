"""Two clicks at once: real connections racing for the same row."""

import threading
import uuid

import pytest
from django.db import connection

from listings.models import Listing
from messaging.models import Conversation, Message
from messaging.services import conversation_open, message_send
from tests.factories import ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def race(calls):
    """Run each call in its own thread and connection, all released at once."""
    barrier = threading.Barrier(len(calls), timeout=20)
    results, errors = [None] * len(calls), []

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return results


def test_two_clicks_on_contact_seller_give_one_conversation():
    listing = ListingFactory()
    buyer = UserFactory()
    results = race([lambda: conversation_open(buyer=buyer, seller=listing.seller, listing=listing)] * 4)
    assert len({conversation.pk for conversation, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Conversation.objects.count() == 1
    assert Listing.objects.get(pk=listing.pk).inquiry_count == 1


def test_both_members_messaging_each_other_at_once_give_one_conversation():
    a, b = SellerFactory(), UserFactory()
    results = race(
        [lambda: conversation_open(buyer=a, seller=b), lambda: conversation_open(buyer=b, seller=a)] * 2
    )
    assert len({conversation.pk for conversation, _ in results}) == 1
    assert Conversation.objects.count() == 1


def test_a_send_retried_while_the_first_is_in_flight_is_stored_once():
    listing = ListingFactory()
    buyer = UserFactory()
    conversation, _ = conversation_open(buyer=buyer, seller=listing.seller, listing=listing)
    client_id = uuid.uuid4()
    results = race(
        [lambda: message_send(conversation=conversation, sender=buyer, body="Hello", client_id=client_id)] * 4
    )
    assert len({message.pk for message, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Message.objects.count() == 1
