"""The messaging triggers: updated_at, conversations.last_message_at, listings.inquiry_count."""

import threading
import time
from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction

from listings.models import Listing
from messaging.models import Conversation, Message
from tests.factories import ConversationFactory, ListingFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

OLD = datetime.fromisoformat("2001-01-01T00:00:00+00:00")


def assert_stamped_during_this_transaction(value) -> None:
    """Set by the database within the test's transaction (now() or statement_timestamp())."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now(), clock_timestamp()")
        started, current = cursor.fetchone()
    assert started <= value <= current


T0 = datetime.fromisoformat("2024-05-01T12:00:00+00:00")


def last_message_at(conversation: Conversation):
    return Conversation.objects.values_list("last_message_at", flat=True).get(pk=conversation.pk)


def inquiry_count(listing: Listing) -> int:
    return Listing.objects.values_list("inquiry_count", flat=True).get(pk=listing.pk)


def test_updated_at_is_set_by_the_database_on_update():
    conversation = ConversationFactory(updated_at=OLD)
    assert Conversation.objects.get(pk=conversation.pk).updated_at == OLD

    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.ARCHIVED)

    assert_stamped_during_this_transaction(Conversation.objects.get(pk=conversation.pk).updated_at)


# last_message_at


def test_a_new_conversation_has_no_last_message():
    assert last_message_at(ConversationFactory()) is None


def test_last_message_at_follows_new_messages():
    conversation = ConversationFactory()
    first = MessageFactory(conversation=conversation)
    assert last_message_at(conversation) == Message.objects.get(pk=first.pk).created_at

    MessageFactory(conversation=conversation, created_at=T0)
    MessageFactory(conversation=conversation, created_at=T0 + timedelta(minutes=5))
    other = ConversationFactory()
    MessageFactory(conversation=other, created_at=T0 - timedelta(days=1))

    # The first message has the transaction's now(), later than T0.
    assert last_message_at(conversation) == Message.objects.get(pk=first.pk).created_at
    assert last_message_at(other) == T0 - timedelta(days=1)


def test_an_older_message_arriving_late_does_not_move_last_message_at_back():
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, created_at=T0)
    MessageFactory(conversation=conversation, created_at=T0 - timedelta(hours=1))
    assert last_message_at(conversation) == T0


def test_deleting_the_newest_message_falls_back_to_the_newest_remaining():
    conversation = ConversationFactory()
    oldest = MessageFactory(conversation=conversation, created_at=T0)
    middle = MessageFactory(conversation=conversation, created_at=T0 + timedelta(minutes=1))
    newest = MessageFactory(conversation=conversation, created_at=T0 + timedelta(minutes=2))

    newest.delete()
    assert last_message_at(conversation) == T0 + timedelta(minutes=1)

    oldest.delete()  # not the newest: nothing moves
    assert last_message_at(conversation) == T0 + timedelta(minutes=1)

    middle.delete()
    assert last_message_at(conversation) is None


def test_deleting_several_messages_in_one_statement():
    conversation = ConversationFactory()
    for minutes in range(4):
        MessageFactory(conversation=conversation, created_at=T0 + timedelta(minutes=minutes))

    Message.objects.filter(conversation=conversation, created_at__gte=T0 + timedelta(minutes=2)).delete()
    assert last_message_at(conversation) == T0 + timedelta(minutes=1)

    Message.objects.filter(conversation=conversation).delete()
    assert last_message_at(conversation) is None


def test_changing_a_message_time_or_conversation():
    first, second = ConversationFactory(), ConversationFactory()
    message = MessageFactory(conversation=first, created_at=T0)
    MessageFactory(conversation=first, created_at=T0 - timedelta(hours=1))
    MessageFactory(conversation=second, created_at=T0 - timedelta(hours=2))

    Message.objects.filter(pk=message.pk).update(created_at=T0 - timedelta(hours=3))
    assert last_message_at(first) == T0 - timedelta(hours=1)

    Message.objects.filter(pk=message.pk).update(created_at=T0 + timedelta(hours=1), conversation=second)
    assert last_message_at(first) == T0 - timedelta(hours=1)
    assert last_message_at(second) == T0 + timedelta(hours=1)


def test_marking_messages_read_leaves_the_conversation_row_alone():
    conversation = ConversationFactory()
    message = MessageFactory(conversation=conversation, created_at=T0)

    def row_version():
        with connection.cursor() as cursor:
            cursor.execute("SELECT ctid::text FROM messaging_conversation WHERE id = %s", [conversation.pk])
            return cursor.fetchone()[0]

    before = row_version()
    Message.objects.filter(pk=message.pk).update(read_at=T0 + timedelta(minutes=1))
    assert row_version() == before


@pytest.mark.django_db(transaction=True)
def test_deleting_a_message_while_another_arrives_keeps_the_new_one():
    """The delete recomputes from the messages after waiting for the conversation row lock."""
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, created_at=T0)
    newest = MessageFactory(conversation=conversation, created_at=T0 + timedelta(minutes=1))
    arrived, deleting = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def send_a_message_slowly():
        try:
            with transaction.atomic():
                MessageFactory(conversation=conversation, created_at=T0 + timedelta(minutes=2))
                arrived.set()  # the conversation row is now locked until commit
                deleting.wait(timeout=10)
                time.sleep(0.5)  # the delete below is now waiting for the row lock
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    sender = threading.Thread(target=send_a_message_slowly)
    sender.start()
    assert arrived.wait(timeout=10)
    deleting.set()
    Message.objects.filter(pk=newest.pk).delete()
    sender.join(timeout=30)

    assert not errors
    assert last_message_at(conversation) == T0 + timedelta(minutes=2)


def test_deleting_a_conversation_with_its_messages():
    listing = ListingFactory()
    conversation = ConversationFactory(listing=listing)
    MessageFactory(conversation=conversation)

    conversation.delete()

    assert not Message.objects.exists()
    assert inquiry_count(listing) == 0


def test_a_full_save_of_a_stale_conversation_keeps_last_message_at():
    conversation = ConversationFactory()
    stale = Conversation.objects.get(pk=conversation.pk)
    MessageFactory(conversation=conversation, created_at=T0)

    stale.subject = "Renamed"
    stale.save()

    fresh = Conversation.objects.get(pk=conversation.pk)
    assert (fresh.subject, fresh.last_message_at) == ("Renamed", T0)


# inquiry_count


def test_inquiry_count_follows_conversations_about_a_listing():
    listing = ListingFactory()
    first = ConversationFactory(listing=listing)
    ConversationFactory(listing=listing)
    ConversationFactory(listing=None)
    assert inquiry_count(listing) == 2

    first.delete()
    assert inquiry_count(listing) == 1


def test_a_conversation_without_a_listing_counts_nowhere():
    listing = ListingFactory()
    conversation = ConversationFactory(listing=None, seller=listing.seller)
    conversation.delete()
    assert inquiry_count(listing) == 0


def test_moving_a_conversation_between_listings():
    first, second = ListingFactory(), ListingFactory()
    conversation = ConversationFactory(listing=first)

    Conversation.objects.filter(pk=conversation.pk).update(listing=second)
    assert (inquiry_count(first), inquiry_count(second)) == (0, 1)

    Conversation.objects.filter(pk=conversation.pk).update(listing=None)
    assert (inquiry_count(first), inquiry_count(second)) == (0, 0)

    Conversation.objects.filter(pk=conversation.pk).update(listing=first)
    assert (inquiry_count(first), inquiry_count(second)) == (1, 0)


def test_other_conversation_changes_leave_inquiry_count_alone():
    listing = ListingFactory()
    conversation = ConversationFactory(listing=listing)

    conversation.status = Conversation.Status.SPAM
    conversation.save()  # a full save rewrites listing_id with the same value
    MessageFactory(conversation=conversation)
    Conversation.objects.filter(pk=conversation.pk).update(buyer=UserFactory())

    assert inquiry_count(listing) == 1
