"""The database itself refuses bad conversations and blank messages."""

from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection, transaction

from messaging.models import Conversation, Message
from tests.factories import ConversationFactory, ListingFactory, MessageFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db


@contextmanager
def rejected(constraint: str):
    """The block fails with an IntegrityError raised by ``constraint`` (and nothing else)."""
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        yield
    assert excinfo.value.__cause__.diag.constraint_name == constraint


# Conversation


def test_status_must_be_a_known_choice_on_insert():
    with rejected("messaging_conversation_status_valid"):
        ConversationFactory(status="bogus")


@pytest.mark.parametrize("status", ["bogus", "", "Spam"])
def test_status_must_be_a_known_choice_on_update(status):
    conversation = ConversationFactory()
    with rejected("messaging_conversation_status_valid"):
        Conversation.objects.filter(pk=conversation.pk).update(status=status)


@pytest.mark.parametrize("status", Conversation.Status.values)
def test_every_status_is_accepted(status):
    ConversationFactory(status=status)


def test_buyer_cannot_be_the_seller():
    seller = SellerFactory()
    with rejected("messaging_conversation_buyer_is_not_seller"):
        Conversation.objects.create(listing=None, buyer=seller, seller=seller)


def test_buyer_cannot_be_made_the_seller_by_update():
    conversation = ConversationFactory()
    with rejected("messaging_conversation_buyer_is_not_seller"):
        Conversation.objects.filter(pk=conversation.pk).update(buyer=conversation.seller)


def test_second_conversation_about_the_same_listing_is_refused():
    first = ConversationFactory()
    with rejected("messaging_conversation_unique"):
        Conversation.objects.create(listing=first.listing, buyer=first.buyer, seller=first.seller)


def test_second_conversation_without_a_listing_is_refused():
    """NULLS NOT DISTINCT: a NULL listing still makes the pair's thread unique."""
    buyer, seller = UserFactory(), SellerFactory()
    Conversation.objects.create(listing=None, buyer=buyer, seller=seller)
    with rejected("messaging_conversation_unique"):
        Conversation.objects.create(listing=None, buyer=buyer, seller=seller)


def test_same_pair_may_talk_about_other_listings_and_about_nothing():
    first = ConversationFactory()
    other_listing = ListingFactory(seller=first.seller)
    Conversation.objects.create(listing=other_listing, buyer=first.buyer, seller=first.seller)
    Conversation.objects.create(listing=None, buyer=first.buyer, seller=first.seller)
    # Roles swapped is another thread.
    Conversation.objects.create(listing=None, buyer=first.seller, seller=first.buyer)
    assert Conversation.objects.count() == 4


def test_other_buyers_may_ask_about_the_same_listing():
    first = ConversationFactory()
    ConversationFactory(listing=first.listing)
    assert Conversation.objects.filter(listing=first.listing).count() == 2


# Message


@pytest.mark.parametrize("text", ["", " ", "     "])
def test_blank_message_is_refused(text):
    conversation = ConversationFactory()
    with rejected("messaging_message_not_blank"):
        Message.objects.create(conversation=conversation, sender=conversation.buyer, message=text)


@pytest.mark.parametrize("text", ["\n", "\t", " \r\n\t "])
def test_whitespace_only_message_is_refused(text):
    conversation = ConversationFactory()
    with rejected("messaging_message_not_blank"):
        Message.objects.create(conversation=conversation, sender=conversation.buyer, message=text)


def test_message_cannot_be_blanked_by_update():
    message = MessageFactory()
    with rejected("messaging_message_not_blank"):
        Message.objects.filter(pk=message.pk).update(message="   ")


def test_blank_message_is_refused_in_raw_sql():
    conversation = ConversationFactory()
    with rejected("messaging_message_not_blank"), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO messaging_message (id, conversation_id, sender_id, message, attachments) "
            "VALUES (gen_random_uuid(), %s, %s, ' ', '[]')",
            [conversation.pk, conversation.buyer_id],
        )


@pytest.mark.parametrize("text", ["Hi", " still available? ", "ok\n"])
def test_message_with_text_is_accepted(text):
    MessageFactory(message=text)
