import re
import uuid

import pytest
from django.urls import reverse

from accounts.models import AccountStatus
from listings.models import Listing
from messaging.models import Conversation, Message
from messaging.services import conversation_open, message_send
from tests.factories import ListingFactory, SellerFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW = "/messages/new/"


def state():
    return sorted(Conversation.objects.values_list("id", flat=True)), Message.objects.count()


def client_id_of(response) -> str:
    return re.search(r'name="client_id" value="([0-9a-f-]{36})"', response.content.decode()).group(1)


@pytest.fixture
def thread():
    listing = ListingFactory(title="Walnut desk")
    buyer = UserFactory(first_name="Bea", last_name="Buyer")
    conversation, _ = conversation_open(buyer=buyer, seller=listing.seller, listing=listing)
    return conversation, buyer, listing.seller


def url_of(conversation):
    return reverse("messaging:conversation", args=[conversation.pk])


# --- Contact seller / Message ------------------------------------------------------------------
def test_the_listing_page_links_to_contact_and_the_flow_works_without_javascript(client):
    listing = ListingFactory(title="Walnut desk")
    buyer = UserFactory()
    client.force_login(buyer)
    page = client.get(listing.get_absolute_url()).content.decode()
    contact = f"{NEW}?listing={listing.pk}"
    assert f'href="{contact}"' in page
    form = client.get(contact)
    assert form.status_code == 200 and "Walnut desk" in form.content.decode()
    assert state() == ([], 0)  # a GET opens nothing
    data = {"listing": str(listing.pk), "body": "Is it still for sale?", "client_id": client_id_of(form)}
    response = client.post(NEW, data)
    conversation = Conversation.objects.get()
    assert response.status_code == 302 and response["Location"] == url_of(conversation)
    assert (conversation.buyer, conversation.seller, conversation.listing) == (buyer, listing.seller, listing)
    # The same form sent twice (a double click, a resubmitted POST) stores one message.
    client.post(NEW, data)
    assert Message.objects.get().message == "Is it still for sale?"
    assert Listing.objects.get(pk=listing.pk).inquiry_count == 1


def test_contact_without_a_message_opens_the_conversation(client):
    listing = ListingFactory()
    client.force_login(UserFactory())
    response = client.post(NEW, {"listing": str(listing.pk), "body": "", "client_id": str(uuid.uuid4())})
    assert response.status_code == 302
    assert Conversation.objects.count() == 1 and Message.objects.count() == 0


def test_message_on_a_profile_opens_the_listing_less_conversation(client):
    seller = SellerFactory()
    member = UserFactory()
    client.force_login(member)
    profile = client.get(reverse("accounts:profile", args=[seller.pk])).content.decode()
    assert f'href="{NEW}?user={seller.pk}"' in profile
    assert client.get(f"{NEW}?user={seller.pk}").status_code == 200
    client.post(NEW, {"user": str(seller.pk), "body": "Hi", "client_id": str(uuid.uuid4())})
    conversation = Conversation.objects.get()
    assert conversation.listing is None and conversation.seller == seller
    # Their own profile has no button.
    client.force_login(seller)
    assert f"{NEW}?user=" not in client.get(reverse("accounts:profile", args=[seller.pk])).content.decode()


@pytest.mark.parametrize(
    "target",
    [
        "own",
        "private",
        "draft",
        "archived",
        "banned_seller",
        "unknown",
        "not-a-uuid",
        "nothing",
        "self",
        "banned",
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_contact_where_the_button_is_not_offered_is_404_and_opens_nothing(client, target, method):
    member = UserFactory()
    owner = SellerFactory()
    query = {
        "own": lambda: {"listing": ListingFactory(seller=member).pk},
        "private": lambda: {"listing": ListingFactory(seller=owner, visibility="private").pk},
        "draft": lambda: {"listing": ListingFactory(seller=owner, status="draft", published_at=None).pk},
        "archived": lambda: {"listing": ListingFactory(seller=owner, status="archived").pk},
        "banned_seller": lambda: {
            "listing": ListingFactory(seller=SellerFactory(account_status=AccountStatus.BANNED)).pk
        },
        "unknown": lambda: {"listing": uuid.uuid4()},
        "not-a-uuid": lambda: {"listing": "1 OR 1=1"},
        "nothing": lambda: {},
        "self": lambda: {"user": member.pk},
        "banned": lambda: {"user": SellerFactory(account_status=AccountStatus.BANNED).pk},
    }[target]()
    client.force_login(member)
    before = state()
    if method == "get":
        response = client.get(NEW, query)
    else:
        response = client.post(NEW, {**query, "body": "Hello", "client_id": str(uuid.uuid4())})
    assert response.status_code == 404
    assert state() == before


def test_a_suspended_member_is_told_and_nothing_is_stored(client):
    listing = ListingFactory()
    member = UserFactory(account_status=AccountStatus.SUSPENDED)
    client.force_login(member)
    response = client.post(NEW, {"listing": str(listing.pk), "body": "Hello", "client_id": str(uuid.uuid4())})
    assert response.status_code in (400, 404)
    assert state() == ([], 0)


@pytest.mark.parametrize("path", ["/messages/", NEW, "/messages/00000000-0000-0000-0000-000000000001/"])
def test_anonymous_visitors_are_sent_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


# --- The conversation page ------------------------------------------------------------------------
def test_opening_marks_read_and_the_sender_sees_seen(client, thread):
    conversation, buyer, seller = thread
    message_send(conversation=conversation, sender=buyer, body="First", client_id=uuid.uuid4())
    last, _ = message_send(conversation=conversation, sender=buyer, body="Second", client_id=uuid.uuid4())
    client.force_login(buyer)
    assert "data-seen" not in client.get(url_of(conversation)).content.decode()
    client.force_login(seller)
    page = client.get(url_of(conversation)).content.decode()
    assert "First" in page and "Second" in page
    assert not Message.objects.filter(read_at__isnull=True).exists()
    client.force_login(buyer)
    page = client.get(url_of(conversation)).content.decode()
    assert page.count("data-seen") == 1
    seen_item = page[page.index(f'id="message-{last.pk}"') :]
    assert seen_item.index("data-seen") < seen_item.index("</li>")


def test_staff_read_without_marking_or_writing(client, thread):
    conversation, buyer, _seller = thread
    message_send(conversation=conversation, sender=buyer, body="Hello", client_id=uuid.uuid4())
    client.force_login(UserFactory(is_staff=True))
    page = client.get(url_of(conversation))
    assert page.status_code == 200 and "Hello" in page.content.decode()
    assert "data-message-form" not in page.content.decode()
    assert Message.objects.get().read_at is None
    before = state()
    response = client.post(url_of(conversation), {"body": "Staff here", "client_id": str(uuid.uuid4())})
    assert response.status_code == 400 and state() == before


def test_reply_by_form_post_and_double_submit(client, thread):
    conversation, _buyer, seller = thread
    client.force_login(seller)
    page = client.get(url_of(conversation))
    data = {"body": "Yes, still for sale", "client_id": client_id_of(page)}
    response = client.post(url_of(conversation), data)
    message = Message.objects.get()
    assert (
        response.status_code == 302 and response["Location"] == f"{url_of(conversation)}#message-{message.pk}"
    )
    assert client.post(url_of(conversation), data).status_code == 302
    assert Message.objects.count() == 1
    # Each render carries a fresh id: the next message is a new one.
    assert client_id_of(client.get(url_of(conversation))) != data["client_id"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"body": "   "}, "Write a message first."),
        ({"body": ""}, "Write a message first."),
        ({"body": "x" * 30}, "at most 20 characters"),
        ({"body": "Hello", "client_id": "nope"}, "This form expired"),
    ],
)
def test_bad_input_gets_a_clear_message_and_stores_nothing(client, thread, settings, data, says):
    settings.MESSAGE_MAX_CHARS = 20
    conversation, buyer, _seller = thread
    client.force_login(buyer)
    response = client.post(url_of(conversation), {"client_id": str(uuid.uuid4()), **data})
    assert response.status_code == 400
    assert says in response.content.decode()
    assert Message.objects.count() == 0


def test_the_rate_limit_answers_429_with_a_clear_message(client, thread, settings):
    settings.MESSAGE_RATE_PER_MINUTE = 2
    conversation, buyer, _seller = thread
    client.force_login(buyer)
    for n in range(2):
        client.post(url_of(conversation), {"body": f"Message {n}", "client_id": str(uuid.uuid4())})
    response = client.post(url_of(conversation), {"body": "Third", "client_id": str(uuid.uuid4())})
    assert response.status_code == 429
    assert "You can send up to 2 messages a minute" in response.content.decode()
    assert Message.objects.count() == 2


def test_a_stranger_cannot_read_or_write(client, thread):
    conversation, _buyer, _seller = thread
    client.force_login(UserFactory())
    before = state()
    assert client.get(url_of(conversation)).status_code == 404
    assert (
        client.post(url_of(conversation), {"body": "Hi", "client_id": str(uuid.uuid4())}).status_code == 404
    )
    assert state() == before


def test_earlier_messages_page_back(client, thread, monkeypatch):
    monkeypatch.setattr("messaging.selectors.THREAD_PAGE_SIZE", 3)
    conversation, buyer, seller = thread
    sent = [
        message_send(
            conversation=conversation, sender=buyer, body=f"Message number {n:02}", client_id=uuid.uuid4()
        )[0]
        for n in range(7)
    ]
    Message.objects.filter(pk__in=[m.pk for m in sent])  # same transaction: ordered by (created_at, id)
    ordered = list(Message.objects.order_by("created_at", "id").values_list("message", flat=True))
    client.force_login(seller)
    seen, url = [], url_of(conversation)
    for _ in range(5):
        page = client.get(url).content.decode()
        bodies = re.findall(r"Message number \d\d", page)
        seen = bodies + seen
        match = re.search(r'href="([^"]+\?before=[^"]+)"', page)
        if not match:
            break
        url = match.group(1).replace("&amp;", "&")
    assert seen == ordered
    tampered = client.get(f"{url_of(conversation)}?before=nonsense")
    assert tampered.status_code == 200 and "no longer valid" in tampered.content.decode()


# --- The inbox -----------------------------------------------------------------------------------
def test_inbox_shows_the_other_party_listing_preview_and_unread(client, thread):
    conversation, buyer, seller = thread
    message_send(
        conversation=conversation, sender=buyer, body="Is the desk solid walnut?", client_id=uuid.uuid4()
    )
    client.force_login(seller)
    page = client.get("/messages/").content.decode()
    assert "Bea Buyer" in page and "Walnut desk" in page and "Is the desk solid walnut?" in page
    assert "data-unread>1<" in page
    assert "badge-unread" in page  # the header badge
    client.force_login(buyer)
    page = client.get("/messages/").content.decode()
    assert "You: Is the desk solid walnut?" in page and "data-unread>" not in page


def test_an_empty_conversation_shows_only_to_its_opener(client, thread):
    _conversation, buyer, seller = thread
    client.force_login(buyer)
    assert "Walnut desk" in client.get("/messages/").content.decode()
    client.force_login(seller)
    assert "Walnut desk" not in client.get("/messages/").content.decode()


def test_inbox_filters_and_keyset_pages(client, monkeypatch):
    monkeypatch.setattr("messaging.selectors.INBOX_PAGE_SIZE", 2)
    seller = SellerFactory()
    for n in range(5):
        listing = ListingFactory(seller=seller, title=f"Item {n}")
        conversation, _ = conversation_open(buyer=UserFactory(), seller=seller, listing=listing)
        message_send(conversation=conversation, sender=conversation.buyer, body="Hi", client_id=uuid.uuid4())
    Conversation.objects.filter(subject="Item 4").update(status="archived")
    client.force_login(seller)
    titles, url = [], "/messages/"
    for _ in range(5):
        page = client.get(url).content.decode()
        titles += re.findall(r"Item \d", page)
        match = re.search(r'href="(/messages/\?filter=active&amp;cursor=[^"]+)"', page)
        if not match:
            break
        url = match.group(1).replace("&amp;", "&")
    assert sorted(titles) == ["Item 0", "Item 1", "Item 2", "Item 3"]
    archived = client.get("/messages/?filter=archived").content.decode()
    assert re.findall(r"Item \d", archived) == ["Item 4"]
    assert client.get("/messages/?filter=bogus").status_code == 200
    assert "no longer valid" in client.get("/messages/?cursor=forged").content.decode()


# --- Pinned query counts ---------------------------------------------------------------------------
@pytest.mark.parametrize("count", [2, 12])
def test_inbox_queries_do_not_grow_with_conversations(client, django_assert_num_queries, count):
    seller = SellerFactory()
    for _ in range(count):
        listing = ListingFactory(seller=seller)
        conversation, _ = conversation_open(buyer=UserFactory(), seller=seller, listing=listing)
        for n in range(2):
            message_send(
                conversation=conversation, sender=conversation.buyer, body=f"Hi {n}", client_id=uuid.uuid4()
            )
    client.force_login(seller)
    # The session's user and the page of conversations (the header badge was counted at log-in).
    with django_assert_num_queries(2):
        assert client.get("/messages/").status_code == 200


@pytest.mark.django_db(transaction=True)  # marking read drops the badge at once, as in production
@pytest.mark.parametrize("count", [2, 40])
def test_conversation_queries_do_not_grow_with_messages(client, django_assert_num_queries, thread, count):
    conversation, buyer, seller = thread
    for n in range(count):
        message_send(
            conversation=conversation,
            sender=buyer if n % 2 else seller,
            body=f"Hi {n}",
            client_id=uuid.uuid4(),
        )
    client.force_login(seller)
    # User, conversation, mark read, the page of messages, whether the two have a purchase
    # together (contact-detail masking, once per page), the "Seen" mark, the safety state of the
    # conversation, the header badge (recounted: reading dropped it); reading also reads the
    # conversation's new-message notifications, if any (one UPDATE:
    # notifications.subscribers.clear_message_notifications).
    with django_assert_num_queries(9):
        assert client.get(url_of(conversation)).status_code == 200


def test_the_header_badge_is_counted_at_log_in_and_shown_without_a_query(
    client, thread, django_assert_num_queries
):
    conversation, buyer, seller = thread
    message_send(conversation=conversation, sender=buyer, body="Hello", client_id=uuid.uuid4())
    client.force_login(seller)  # counts the badge once
    # (A page without lists of its own: the profile page also reads the notification settings.)
    with django_assert_num_queries(1):  # the session's user only
        page = client.get(reverse("accounts:email_change")).content.decode()
    assert "data-unread-count>1<" in page
    client.force_login(buyer)
    assert "data-unread-count" not in client.get(reverse("accounts:email_change")).content.decode()
