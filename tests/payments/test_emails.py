"""Purchase emails: one recipient each, amounts from the ledger, an absolute order link, and
an escaped HTML alternative."""

from datetime import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import dateformat, timezone

from payments import emails
from payments.services import (
    transaction_book_late_payment,
    transaction_cancel,
    transaction_confirm_receipt,
    transaction_mark_paid,
    transaction_refund,
    transaction_release,
)
from tests.factories import SellerFactory, UserFactory
from tests.jobs import run_jobs
from tests.payments.purchase_helpers import paid, released, reload, start

pytestmark = pytest.mark.django_db

SITE = "https://market.example"
PRICE = 3900  # $39.00: platform fee (10%) $3.90, seller payout $35.10


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = f"{SITE}/"
    settings.PLATFORM_FEE_BPS = 1000
    settings.DEFAULT_FROM_EMAIL = "Marketplace <no-reply@market.example>"


def purchase(maker=paid, title="Walnut side table", **fields):
    seller = fields.pop("seller", None) or SellerFactory(seller_display_name="Oak & Iron")
    buyer = fields.pop("buyer", None) or UserFactory(first_name="Ada")
    return maker(title=title, price_cents=PRICE, seller=seller, buyer=buyer, **fields)


def send(function, *args):
    """Call an email function with an empty outbox and queue (setup may have queued hook
    emails), then run the send jobs it queued: the messages it sent."""
    run_jobs()
    mail.outbox.clear()
    function(*args)
    run_jobs()
    return list(mail.outbox)


def html_of(message) -> str:
    assert len(message.alternatives) == 1
    content, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    return content


def everything(message) -> str:
    """Subject, headers, text and HTML: where a private address must not appear."""
    return "\n".join([message.subject, message.body, html_of(message), str(message.message())])


def order_link(txn) -> str:
    return SITE + reverse("payments:order", args=[txn.pk])


def assert_only_to(message, user) -> None:
    assert message.to == [user.email]
    assert message.cc == []
    assert message.bcc == []
    assert message.recipients() == [user.email]
    assert message.from_email == "Marketplace <no-reply@market.example>"


def paid_at(txn) -> datetime:
    first = next(e for e in txn.metadata["history"] if e["status"] == "processing")
    return datetime.fromisoformat(first["at"])


# --- Receipt -------------------------------------------------------------------------------
def test_receipt_goes_to_the_buyer_with_the_order_and_the_amount_charged():
    txn = purchase()
    [message] = send(emails.send_order_receipt, txn)

    assert_only_to(message, txn.buyer)
    assert message.subject == "Your receipt for Walnut side table"
    html = html_of(message)
    for body in (message.body, html):
        assert str(txn.pk) in body
        assert "Walnut side table" in body
        assert "$39.00" in body
        assert "USD" in body
        assert order_link(txn) in body
        assert dateformat.format(paid_at(reload(txn)), "j F Y") in body
    assert "Seller: Oak & Iron" in message.body
    assert "Oak &amp; Iron" in html
    assert "Hello Ada," in message.body


def test_receipt_never_shows_the_sellers_address():
    txn = purchase()
    [message] = send(emails.send_order_receipt, txn)
    assert txn.seller.email not in everything(message)


def test_receipt_rereads_a_stale_transaction():
    pending = purchase(maker=start)
    transaction_mark_paid(
        transaction=pending, payment_intent_id="pi_stale", charge_id="ch_stale", amount_cents=PRICE
    )
    assert pending.status == "pending"  # the caller's instance is out of date
    [message] = send(emails.send_order_receipt, pending)
    assert "Charged: $39.00 (USD)" in message.body
    assert "Paid on:" in message.body


def test_receipt_html_escapes_the_title_and_the_text_does_not():
    txn = purchase(title="<script>alert(1)</script> & co")
    [message] = send(emails.send_order_receipt, txn)

    html = html_of(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "<script>alert(1)</script> & co" in message.body
    assert message.subject == "Your receipt for <script>alert(1)</script> & co"


def test_subject_is_one_line_whatever_the_title():
    txn = purchase(title="Lamp\r\nBcc: victim@example.com")
    [message] = send(emails.send_order_receipt, txn)
    assert "\n" not in message.subject and "\r" not in message.subject
    assert message.subject == "Your receipt for Lamp Bcc: victim@example.com"
    assert message.recipients() == [txn.buyer.email]


# --- Sale notice ------------------------------------------------------------------------------
def test_sale_notice_tells_the_seller_the_price_fee_payout_and_release_date():
    txn = reload(purchase())
    [message] = send(emails.send_sale_notice, txn)

    assert_only_to(message, txn.seller)
    assert message.subject == "You sold Walnut side table"
    release = dateformat.format(txn.escrow_release_date, "j F Y")
    for body in (message.body, html_of(message)):
        assert "$39.00" in body
        assert "$3.90" in body
        assert "$35.10" in body
        assert release in body
        assert order_link(txn) in body
    assert "Buyer paid: $39.00" in message.body
    assert "Platform fee: $3.90" in message.body
    assert "Your payout: $35.10" in message.body
    assert txn.buyer.email not in everything(message)


def test_sale_notice_html_escapes_the_title():
    txn = purchase(title="<script>x</script>")
    [message] = send(emails.send_sale_notice, txn)
    assert "<script>" not in html_of(message)
    assert "&lt;script&gt;x&lt;/script&gt;" in html_of(message)
    assert message.subject == "You sold <script>x</script>"


# --- Payout notice ----------------------------------------------------------------------------
def test_payout_notice_states_the_amount_transferred():
    txn = purchase(maker=released)
    [message] = send(emails.send_payout_notice, txn)

    assert_only_to(message, txn.seller)
    assert message.subject == "Your payout for Walnut side table"
    assert "Transferred to your account: $35.10." in message.body
    assert "$35.10" in html_of(message)
    assert order_link(txn) in message.body
    assert txn.buyer.email not in everything(message)


@pytest.mark.parametrize("simulated", [True, False])
def test_payout_notice_says_test_mode_when_payouts_are_simulated(settings, simulated):
    txn = purchase(maker=released)  # released through the simulated gateway either way
    settings.STRIPE_CONNECT_SIMULATED = simulated
    [message] = send(emails.send_payout_notice, txn)
    assert ("Test mode: payouts simulated" in message.body) is simulated
    assert ("Test mode: payouts simulated" in html_of(message)) is simulated
    assert ("reaches your bank" in message.body) is not simulated


def test_payout_notice_after_a_partial_refund_is_the_ledger_transfer():
    txn = purchase()
    transaction_refund(transaction=txn, amount_cents=1000, refund_id="re_before", actor=None)
    transaction_confirm_receipt(transaction=txn, actor=txn.buyer)
    transaction_release(transaction=txn, transfer_id="tr_after_refund", at=timezone.now())

    [message] = send(emails.send_payout_notice, txn)
    assert "Transferred to your account: $25.10 (your payout, less $10.00 refunded to the buyer)." in (
        message.body
    )


# --- Refund notices ---------------------------------------------------------------------------
def refund(txn, cents, refund_id):
    transaction_refund(transaction=txn, amount_cents=cents, refund_id=refund_id, actor=None)
    return send(emails.send_refund_notice, txn, cents)


def test_partial_refund_tells_each_party_separately():
    txn = purchase()
    to_buyer, to_seller = refund(txn, 1000, "re_x")

    assert_only_to(to_buyer, txn.buyer)
    assert to_buyer.subject == "You were refunded $10.00 for Walnut side table"
    assert "Refunded so far: $10.00 of the $39.00 you paid." in to_buyer.body
    assert "$10.00" in html_of(to_buyer)
    assert order_link(txn) in to_buyer.body
    assert txn.seller.email not in everything(to_buyer)

    assert_only_to(to_seller, txn.seller)
    assert to_seller.subject == "$10.00 was refunded to the buyer of Walnut side table"
    release = dateformat.format(reload(txn).escrow_release_date, "j F Y")
    assert "The refund comes out of your payout, which is now $25.10. It is released on " + release in (
        to_seller.body
    )
    assert "$25.10" in html_of(to_seller)
    assert order_link(txn) in to_seller.body
    assert txn.buyer.email not in everything(to_seller)


def test_second_refund_reports_the_total_refunded_so_far():
    txn = purchase()
    refund(txn, 1000, "re_first")
    to_buyer, to_seller = refund(txn, 500, "re_second")

    assert to_buyer.subject == "You were refunded $5.00 for Walnut side table"
    assert "Refunded so far: $15.00 of the $39.00 you paid." in to_buyer.body
    assert "payout, which is now $20.10." in to_seller.body


def test_full_refund_before_release():
    txn = purchase()
    to_buyer, to_seller = refund(txn, PRICE, "re_full")

    assert "Your order was refunded in full: $39.00 of the $39.00 you paid." in to_buyer.body
    assert "refunded in full, so there is no payout for it." in to_seller.body
    assert "taken back" not in to_seller.body
    assert "released on" not in to_seller.body


def test_refunds_after_release_say_what_is_taken_back_from_the_seller():
    txn = purchase(maker=released)
    to_buyer, to_seller = refund(txn, 1000, "re_after")

    assert "Refunded so far: $10.00 of the $39.00 you paid." in to_buyer.body
    assert "your payout, which is now $25.10." in to_seller.body
    assert "You were already paid $35.10 for this sale, so $10.00 in all is taken back" in to_seller.body

    to_buyer, to_seller = refund(txn, PRICE - 1000, "re_rest")
    assert to_buyer.subject == "You were refunded $29.00 for Walnut side table"
    assert "refunded in full: $39.00 of the $39.00 you paid." in to_buyer.body
    assert "refunded in full, so there is no payout for it." in to_seller.body
    assert "You were already paid $35.10 for this sale, so $35.10 in all is taken back" in to_seller.body


def test_late_payment_refund_tells_only_the_buyer():
    txn = purchase(maker=start)
    transaction_cancel(transaction=txn, actor=txn.buyer)
    transaction_book_late_payment(
        transaction=txn, charge_id="ch_late", amount_cents=PRICE, refund_id="re_late"
    )
    [to_buyer] = send(emails.send_refund_notice, txn, PRICE)

    assert_only_to(to_buyer, txn.buyer)
    assert to_buyer.subject == "You were refunded $39.00 for Walnut side table"
    assert "arrived after the checkout had ended, so it was refunded in full" in to_buyer.body
    assert txn.seller.email not in everything(to_buyer)


def test_refund_html_escapes_the_title():
    txn = purchase(title="<b>bold</b>")
    to_buyer, to_seller = refund(txn, 100, "re_html")
    for message in (to_buyer, to_seller):
        assert "<b>bold</b>" not in html_of(message)
        assert "&lt;b&gt;bold&lt;/b&gt;" in html_of(message)
        assert "<b>bold</b>" in message.body
