import uuid
from datetime import datetime

import pytest
from django.utils import timezone

from accounts.models import AccountStatus, User
from listings.models import Listing
from marketplace.errors import ErrorCode, ServiceError
from messaging import hooks
from messaging.models import Conversation, Message
from messaging.selectors import message_from_event, message_payload, messages_after, unread_count
from messaging.services import conversation_mark_read, conversation_open, message_send
from tests.factories import ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    listing = ListingFactory()
    buyer = UserFactory()
    conversation, _ = conversation_open(buyer=buyer, seller=listing.seller, listing=listing)
    return conversation, buyer, listing.seller


def send(conversation, sender, body="Is it still available?", client_id=None):
    return message_send(
        conversation=conversation, sender=sender, body=body, client_id=client_id or uuid.uuid4()
    )


def counts():
    return Conversation.objects.count(), Message.objects.count()


# --- conversation_open ---------------------------------------------------------------------------
def test_open_creates_once_and_reuses(django_capture_on_commit_callbacks):
    listing = ListingFactory()
    buyer = UserFactory()
    opened = []
    hooks.conversation_opened.subscribe(opened.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            conversation, created = conversation_open(buyer=buyer, seller=listing.seller, listing=listing)
            again, created_again = conversation_open(buyer=buyer, seller=listing.seller, listing=listing)
    finally:
        hooks.conversation_opened.subscribers.remove(opened.append)
    assert created and not created_again and again == conversation
    assert conversation.subject == listing.title
    assert opened == [conversation]


def test_inquiry_count_counts_conversations_about_the_listing():
    listing = ListingFactory()
    for _ in range(3):
        conversation_open(buyer=UserFactory(), seller=listing.seller, listing=listing)
    buyer = UserFactory()
    conversation_open(buyer=buyer, seller=listing.seller, listing=listing)
    conversation_open(buyer=buyer, seller=listing.seller, listing=listing)  # reused: not counted
    conversation_open(buyer=buyer, seller=listing.seller)  # about nothing: not an inquiry
    assert Listing.objects.get(pk=listing.pk).inquiry_count == 4


def test_the_listing_less_conversation_is_one_per_pair_whoever_opens_it():
    a, b = SellerFactory(), UserFactory()
    first, created = conversation_open(buyer=b, seller=a)
    second, created_second = conversation_open(buyer=a, seller=b)
    assert created and not created_second and first == second


def test_a_listing_conversation_and_the_listing_less_one_are_apart():
    listing = ListingFactory()
    buyer = UserFactory()
    about, _ = conversation_open(buyer=buyer, seller=listing.seller, listing=listing)
    plain, _ = conversation_open(buyer=buyer, seller=listing.seller)
    assert about != plain and plain.listing is None


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("self", ErrorCode.OWN_ACCOUNT),
        ("banned_seller", ErrorCode.NOT_FOUND),
        ("inactive_seller", ErrorCode.NOT_FOUND),
        ("suspended_buyer", ErrorCode.ACCOUNT_SUSPENDED),
        ("banned_buyer", ErrorCode.ACCOUNT_BANNED),
        ("other_sellers_listing", ErrorCode.INVALID),
        ("draft", ErrorCode.NOT_FOUND),
        ("private", ErrorCode.NOT_FOUND),
        ("archived", ErrorCode.NOT_FOUND),
        ("sold", ErrorCode.NOT_FOUND),
    ],
)
def test_open_refusals_change_nothing(setup, code):
    listing = ListingFactory()
    seller, buyer = listing.seller, UserFactory()
    about = listing
    if setup == "self":
        buyer = seller
    elif setup == "banned_seller":
        seller.account_status = AccountStatus.BANNED
    elif setup == "inactive_seller":
        seller.is_active = False
    elif setup == "suspended_buyer":
        buyer.account_status = AccountStatus.SUSPENDED
    elif setup == "banned_buyer":
        buyer.account_status = AccountStatus.BANNED
    elif setup == "other_sellers_listing":
        about = ListingFactory()
    elif setup in ("draft", "archived"):
        about = ListingFactory(seller=seller, status=setup)
    elif setup == "sold":
        about = ListingFactory(seller=seller, status=setup, sold_at=timezone.now())
    elif setup == "private":
        about = ListingFactory(seller=seller, visibility=Listing.Visibility.PRIVATE)
    before = counts()
    with pytest.raises(ServiceError) as refused:
        conversation_open(buyer=buyer, seller=seller, listing=about)
    assert refused.value.code == code and refused.value.message
    assert counts() == before


def test_an_existing_conversation_stays_open_once_the_listing_sold(pair):
    conversation, buyer, seller = pair
    Listing.objects.filter(pk=conversation.listing_id).update(status="sold", sold_at=timezone.now())
    listing = Listing.objects.get(pk=conversation.listing_id)
    assert conversation_open(buyer=buyer, seller=seller, listing=listing) == (conversation, False)


# --- message_send --------------------------------------------------------------------------------
def test_send_stores_and_announces_after_commit(pair, django_capture_on_commit_callbacks, monkeypatch):
    conversation, buyer, seller = pair
    pushed, sent = [], []
    monkeypatch.setattr(
        "marketplace.events.send_events",
        lambda groups, payload: pushed.extend((group, payload) for group in groups),
    )
    hooks.message_sent.subscribe(sent.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            message, created = send(conversation, buyer, "  Hello\nthere  ")
    finally:
        hooks.message_sent.subscribers.remove(sent.append)
    assert created and message.message == "Hello\nthere"
    assert isinstance(message.created_at, datetime)
    assert sent == [message]
    assert {group for group, _ in pushed} == {
        f"user-{buyer.pk}",
        f"user-{seller.pk}",
    }
    event = pushed[0][1]
    assert event["type"] == "message.new" and event["message"]["id"] == str(message.pk)
    # The consumer rebuilds it without a query and sends each viewer their copy.
    payload = message_payload(message_from_event(event["message"]), seller)
    assert payload["body"] == "Hello\nthere" and payload["mine"] is False
    assert payload["client_id"] == str(message.client_id)


def test_a_retried_client_id_is_stored_once(pair, django_capture_on_commit_callbacks):
    conversation, buyer, _seller = pair
    client_id = uuid.uuid4()
    sent = []
    hooks.message_sent.subscribe(sent.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first, created = send(conversation, buyer, "Once", client_id)
            again, created_again = send(conversation, buyer, "Once", str(client_id))
    finally:
        hooks.message_sent.subscribers.remove(sent.append)
    assert created and not created_again and again == first
    assert Message.objects.filter(conversation=conversation).count() == 1
    assert sent == [first]


def test_client_ids_are_per_sender(pair):
    conversation, buyer, seller = pair
    client_id = uuid.uuid4()
    send(conversation, buyer, "Mine", client_id)
    _message, created = send(conversation, seller, "Yours", client_id)
    assert created and Message.objects.filter(client_id=client_id).count() == 2


def test_a_client_id_of_another_conversation_is_refused(pair):
    conversation, buyer, seller = pair
    other, _ = conversation_open(buyer=buyer, seller=seller)
    client_id = uuid.uuid4()
    send(conversation, buyer, "Here", client_id)
    with pytest.raises(ServiceError) as refused:
        send(other, buyer, "There", client_id)
    assert refused.value.code == ErrorCode.INVALID


@pytest.mark.parametrize(
    ("body", "client_id"),
    [
        ("", None),
        ("   ", None),
        ("\n\t \r\n", None),
        ("\x00", None),
        (None, None),
        ("x" * 4001, None),
        ("Hello", "not-a-uuid"),
        ("Hello", ""),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(pair, settings, body, client_id):
    settings.MESSAGE_MAX_CHARS = 4000
    conversation, buyer, _seller = pair
    before = counts()
    with pytest.raises(ServiceError) as refused:
        message_send(
            conversation=conversation,
            sender=buyer,
            body=body,
            client_id=uuid.uuid4() if client_id is None else client_id,
        )
    assert refused.value.code == ErrorCode.INVALID and refused.value.message
    assert counts() == before


def test_the_longest_message_is_accepted(pair, settings):
    settings.MESSAGE_MAX_CHARS = 50
    conversation, buyer, _seller = pair
    assert send(conversation, buyer, "y" * 50)[1]
    with pytest.raises(ServiceError, match="at most 50 characters; this one has 51"):
        send(conversation, buyer, "y" * 51)


@pytest.mark.parametrize("who", ["stranger", "staff", "anonymous"])
def test_only_the_two_participants_may_write(pair, who):
    from django.contrib.auth.models import AnonymousUser

    conversation, _buyer, _seller = pair
    sender = {
        "stranger": UserFactory,
        "staff": lambda: UserFactory(is_staff=True),
        "anonymous": AnonymousUser,
    }[who]()
    before = counts()
    with pytest.raises(ServiceError) as refused:
        send(conversation, sender)
    assert refused.value.code == ErrorCode.NOT_FOUND
    assert counts() == before


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("sender", AccountStatus.SUSPENDED, ErrorCode.ACCOUNT_SUSPENDED),
        ("sender", AccountStatus.BANNED, ErrorCode.ACCOUNT_BANNED),
        ("recipient", AccountStatus.BANNED, ErrorCode.NOT_FOUND),
    ],
)
def test_account_standing(pair, who, status, code):
    conversation, buyer, seller = pair
    member = buyer if who == "sender" else seller
    member.account_status = status
    member.save(update_fields=["account_status"])
    before = counts()
    with pytest.raises(ServiceError) as refused:
        send(conversation, buyer)
    assert refused.value.code == code
    assert counts() == before


def test_a_suspended_recipient_still_receives(pair):
    conversation, buyer, seller = pair
    seller.account_status = AccountStatus.SUSPENDED
    seller.save(update_fields=["account_status"])
    assert send(conversation, buyer)[1]


@pytest.mark.parametrize("who", ["sender", "recipient"])
def test_a_ban_stored_after_the_members_were_loaded_still_counts(pair, who):
    """A socket holds its member and the conversation's participants for hours: the standing
    is read again on every send, so a ban since then refuses the next message."""
    conversation, buyer, seller = pair
    member = buyer if who == "sender" else seller
    User.objects.filter(pk=member.pk).update(account_status=AccountStatus.BANNED)
    assert member.account_status == AccountStatus.ACTIVE  # the objects the sender holds: stale
    before = counts()
    with pytest.raises(ServiceError) as refused:
        send(conversation, buyer)
    assert refused.value.code == (ErrorCode.ACCOUNT_BANNED if who == "sender" else ErrorCode.NOT_FOUND)
    assert counts() == before


def test_the_rate_limit_holds_per_sender(pair, settings):
    settings.MESSAGE_RATE_PER_MINUTE = 3
    conversation, buyer, seller = pair
    for n in range(3):
        send(conversation, buyer, f"Message {n}")
    client_id = uuid.uuid4()
    with pytest.raises(ServiceError) as refused:
        send(conversation, buyer, "One too many", client_id)
    assert refused.value.code == ErrorCode.RATE_LIMITED
    assert "3 messages a minute" in refused.value.message
    assert Message.objects.filter(sender=buyer).count() == 3
    # A retry of a stored message is not a new one; the other participant has their own limit.
    stored = Message.objects.filter(sender=buyer).first()
    assert send(conversation, buyer, stored.message, stored.client_id) == (stored, False)
    assert send(conversation, seller, "Reply")[1]


def test_a_retry_under_the_limit_uses_none_of_it(pair, settings):
    settings.MESSAGE_RATE_PER_MINUTE = 3
    conversation, buyer, _ = pair
    first, _ = send(conversation, buyer, "One")
    send(conversation, buyer, "Two")
    for _ in range(3):  # the page resent it: found by its client id after the INSERT
        assert send(conversation, buyer, first.message, first.client_id) == (first, False)
    assert send(conversation, buyer, "Three")[1]
    with pytest.raises(ServiceError) as refused:
        send(conversation, buyer, "Four")
    assert refused.value.code == ErrorCode.RATE_LIMITED
    assert Message.objects.filter(sender=buyer).count() == 3


# --- read marks, catch-up, badge -------------------------------------------------------------------
def test_mark_read_marks_the_other_partys_messages(pair, django_capture_on_commit_callbacks):
    conversation, buyer, seller = pair
    send(conversation, buyer, "One")
    send(conversation, buyer, "Two")
    send(conversation, seller, "Mine")
    assert unread_count(seller) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert conversation_mark_read(conversation=conversation, reader=seller) == 2
    assert unread_count(seller) == 0
    assert unread_count(buyer) == 1
    assert not Message.objects.filter(sender=seller, read_at__isnull=False).exists()
    assert conversation_mark_read(conversation=conversation, reader=seller) == 0
    assert conversation_mark_read(conversation=conversation, reader=UserFactory(is_staff=True)) == 0


def test_the_badge_is_cached_and_dropped_by_news(
    pair, django_capture_on_commit_callbacks, django_assert_num_queries
):
    conversation, buyer, seller = pair
    assert unread_count(seller) == 0
    with django_assert_num_queries(0):
        assert unread_count(seller) == 0
    with django_capture_on_commit_callbacks(execute=True):
        send(conversation, buyer)
    assert unread_count(seller) == 1


def test_messages_after_returns_what_followed(pair):
    conversation, buyer, seller = pair
    first, _ = send(conversation, buyer, "One")
    later = [send(conversation, seller if n % 2 else buyer, f"Later {n}")[0] for n in range(3)]
    after = messages_after(conversation=conversation, viewer=buyer, after_id=first.pk)
    assert set(later) <= set(after) and first not in after
    assert len({message.pk for message in after}) == len(after)
    # An unknown id, a foreign one or none: the newest messages.
    other, _ = conversation_open(buyer=buyer, seller=seller)
    foreign, _ = send(other, buyer, "Elsewhere")
    for anchor in (None, "nonsense", uuid.uuid4(), foreign.pk):
        assert set(messages_after(conversation=conversation, viewer=buyer, after_id=anchor)) == {
            first,
            *later,
        }
