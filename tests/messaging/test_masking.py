"""Contact details masked for a message's recipient until the two have traded (messaging/masking.py).

The tables are the contract: every "masked" text must lose all of its contact details (no
digit of a phone number, no part of an address survives), every "kept" text must come out
unchanged.
"""

import pytest

from messaging.masking import CONTACT_MASK, contact_spans, mask_contact_details, mask_for_viewer
from payments.models import TransactionStatus
from tests.factories import ConversationFactory, MessageFactory, TransactionFactory, UserFactory

M = CONTACT_MASK

# (text, what the recipient sees)
MASKED = [
    # Email addresses, plain and disguised.
    ("mail me: john.doe@example.com", f"mail me: {M}"),
    ("John.Doe+shop@sub.example.co.uk", M),
    ("name at mail dot com", M),
    ("name (at) mail [dot] com", M),
    ("name [at] mail (dot) com", M),
    ("name{at}mail{dot}com", M),
    ("name AT mail DOT com", M),
    ("john dot doe at gmail dot com", M),
    ("name[at]mail[dot]co[dot]uk", M),
    ("john @ gmail . com", M),
    ("write to john at gmail", f"write to {M}"),
    ("john at gmail.com please", f"{M} please"),
    ("john@gmail", M),
    ("john_at_mail_dot_com", M),
    # Phone numbers: local, international, with every usual separator.
    ("call +1 (555) 123-4567", f"call {M}"),
    ("+44 20 7946 0958", M),
    ("+49 171 2345678", M),
    ("0049 30 1234567", M),
    ("(555) 123 4567", M),
    ("555-123-4567", M),
    ("555.123.4567", M),
    ("555 123 4567", M),
    ("06 12 34 56 78", M),
    ("06.12.34.56.78", M),
    ("+33 6 12 34 56 78", M),
    ("07700 900123", M),
    ("5551234567", M),
    ("tel:+15551234567", f"tel:{M}"),
    ("030/12345678", M),
    ("612 345 678", M),
    ("+61 2 9876 5432", M),
    ("+91 98765 43210", M),
    ("Call 555-1234 tonight", f"Call {M} tonight"),
    ("my number is +49 171 2345678 ok", f"my number is {M} ok"),
    ("call 0171 234 5678 in the evening", f"call {M} in the evening"),
    # Obfuscated numbers.
    ("5 5 5 1 2 3 4 5 6 7", M),
    ("five five five one two three four five six seven", M),
    ("555 one two three four five six", M),
    # Off-site payment and chat handles.
    ("paypal.me/johndoe", M),
    ("pay at https://www.paypal.com/paypalme/john thanks", f"pay at {M} thanks"),
    ("venmo.com/u/john-doe", M),
    ("cash.app/$johndoe", M),
    ("revolut.me/johnd", M),
    ("venmo @john-doe", M),
    ("my venmo is @johnd", f"my {M}"),
    ("Venmo: john-doe", M),
    ("Cash App $johndoe", M),
    ("send to $johnd", f"send to {M}"),
    ("zelle me", M),
    ("IBAN DE89 3704 0044 0532 0130 00", f"IBAN {M}"),
    ("GB29NWBK60161331926819", M),
    ("0x52908400098527886E0F7030069857D2E4169EE7", M),
    ("whatsapp me", M),
    ("WhatsApp me at +44 7700 900123", M),
    ("text me on telegram", M),
    ("add me on snapchat", M),
    ("wa.me/15551234567", M),
    ("t.me/johnny", M),
    ("@johnny on insta", M),
    ("insta: johnny.sells", M),
    # Several together: one mask for neighbours, each masked where apart.
    ("john@example.com / +1 555 123 4567", M),
    ("email john@example.com or call 555-123-4567", f"email {M} or call {M}"),
]

KEPT = [
    # Prices.
    "$1,250.00",
    "1.250,00 €",
    "€ 1.250.000,00",
    "USD 12,500",
    "price 1250000 JPY",
    "Can you do 1 250 000 ₽?",
    "£950 or best offer",
    "50 % off",
    "I'll take it for 1250 dollars",
    # Dates, times, years.
    "2026-11-30",
    "30/11/2026",
    "30.11.2026",
    "30/11/2026 - 05/12/2026",
    "warranty until 11/2027",
    "at 10:30",
    "10:00-18:00",
    "pick up 9am-5pm",
    "at 5 pm on 2026-11-30",
    "made in 1998",
    "between 2019 2020 2021",
    "open 24/7",
    # Model and reference numbers.
    "RTX 4090",
    "RTX 3080 3090 4090",
    "SKU 12-345-678",
    "model 12 345 678",
    "i7-12700K",
    "XPS-9310",
    "order #123456789",
    "ZIP 10001-1234",
    "ISBN 978-3-16-148410-0",
    "iPhone 13 Pro 256 GB",
    # Dimensions and quantities.
    "120x60x75 cm",
    "120 x 60 x 75 cm",
    "1920x1080",
    "2 x 120 cm",
    "it weighs 2.5 kg",
    "16 GB 3200 MHz",
    'Samsung 55" TV',
    "sizes 38 40 42 44",
    "1.250.000",
    "12345.67",
    "I have 3 left",
    # Words that look like the disguises.
    "I'll be there at noon. Thanks",
    "meet at the station. Thanks",
    "see it at example.com",
    "I accept PayPal through the site",
    "the signal: strong",
    "the line: very good",
    "Is the price negotiable?",
    "",
]


@pytest.mark.parametrize(("text", "seen"), MASKED)
def test_contact_details_are_masked(text, seen):
    assert mask_contact_details(text) == seen


@pytest.mark.parametrize("text", KEPT)
def test_no_false_positive(text):
    assert contact_spans(text) == []
    assert mask_contact_details(text) == text


def test_long_text_is_handled_quickly():
    """No pattern backtracks catastrophically on long runs of near-misses."""
    import time

    text = ("name at mail dot " * 300) + ("1 2 3 " * 300) + ("a.b.c." * 300) + ("$x" * 300)
    started = time.perf_counter()
    mask_contact_details(text)
    assert time.perf_counter() - started < 2


# --- Who sees what -----------------------------------------------------------------------------
BODY = "Reach me at john@example.com or +44 20 7946 0958"


@pytest.fixture
def thread():
    conversation = ConversationFactory()
    message = MessageFactory(conversation=conversation, sender=conversation.buyer, message=BODY)
    return conversation, message


@pytest.mark.django_db
def test_recipient_sees_the_mask_sender_and_staff_the_original(thread):
    conversation, message = thread
    assert mask_for_viewer(message, conversation.seller) == f"Reach me at {M}"
    assert mask_for_viewer(message, conversation.buyer) == BODY
    assert mask_for_viewer(message, UserFactory(is_staff=True)) == BODY
    message.refresh_from_db()
    assert message.message == BODY  # the original is kept


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "shared"),
    [
        (TransactionStatus.PENDING, False),
        (TransactionStatus.CANCELLED, False),
        (TransactionStatus.PROCESSING, True),
        (TransactionStatus.COMPLETED, True),
        (TransactionStatus.DISPUTED, True),
        (TransactionStatus.REFUNDED, True),
    ],
)
def test_a_paid_transaction_between_them_unmasks(thread, status, shared):
    conversation, message = thread
    TransactionFactory(buyer=conversation.buyer, listing=conversation.listing, status=status)
    seen = mask_for_viewer(message, conversation.seller)
    assert (seen == BODY) is shared


@pytest.mark.django_db
def test_a_purchase_the_other_way_round_counts_and_others_do_not(thread):
    conversation, message = thread
    # The seller bought something from the buyer: they have traded.
    from tests.factories import ListingFactory

    TransactionFactory(buyer=conversation.seller, listing=ListingFactory(seller=conversation.buyer))
    assert mask_for_viewer(message, conversation.seller) == BODY


@pytest.mark.django_db
def test_a_purchase_with_someone_else_does_not_count(thread):
    conversation, message = thread
    TransactionFactory(buyer=conversation.buyer)  # another seller
    TransactionFactory(listing=conversation.listing, buyer=UserFactory(), status=TransactionStatus.REFUNDED)
    assert mask_for_viewer(message, conversation.seller) == f"Reach me at {M}"


@pytest.mark.django_db
def test_the_setting_turns_masking_off(thread, settings):
    conversation, message = thread
    settings.MESSAGE_MASK_CONTACT_DETAILS = False
    assert mask_for_viewer(message, conversation.seller) == BODY


@pytest.mark.django_db
def test_a_page_of_messages_costs_one_query(thread, django_assert_num_queries):
    conversation, _ = thread
    for _ in range(5):
        MessageFactory(conversation=conversation, sender=conversation.buyer, message=BODY)
    messages = list(conversation.messages.all())
    with django_assert_num_queries(1):
        for message in messages:
            assert mask_for_viewer(message, conversation.seller) == f"Reach me at {M}"


@pytest.mark.django_db
def test_pages_mask_for_the_recipient_only(client):
    import uuid

    from django.urls import reverse

    from messaging.services import conversation_open, message_send
    from tests.factories import ListingFactory

    listing = ListingFactory()
    buyer = UserFactory()
    conversation, _ = conversation_open(buyer=buyer, seller=listing.seller, listing=listing)
    message_send(conversation=conversation, sender=buyer, body=BODY, client_id=uuid.uuid4())
    url = reverse("messaging:conversation", args=[conversation.pk])
    client.force_login(listing.seller)
    for page in (client.get(url), client.get(reverse("messaging:inbox"))):
        text = page.content.decode()
        assert "contact details are shared after a purchase" in text
        assert "john@example.com" not in text and "7946" not in text
    client.force_login(buyer)
    for page in (client.get(url), client.get(reverse("messaging:inbox"))):
        assert "john@example.com" in page.content.decode()
    TransactionFactory(buyer=buyer, listing=listing, status=TransactionStatus.PROCESSING)
    client.force_login(listing.seller)
    for page in (client.get(url), client.get(reverse("messaging:inbox"))):
        assert "john@example.com" in page.content.decode()
