"""The buyer's orders at /payments/orders/: own purchases only, newest first, keyset pages."""

import pytest
from django.urls import reverse

from payments.services import transaction_refund
from tests.factories import UserFactory
from tests.payments.purchase_helpers import paid, start

pytestmark = pytest.mark.django_db

ORDERS_URL = reverse("payments:orders")


def test_the_buyer_sees_their_orders_newest_first_with_refunds(client):
    buyer = UserFactory()
    first = paid(buyer=buyer, title="Brass lamp", price_cents=3_900)
    transaction_refund(transaction=first, amount_cents=900, refund_id="re_o", actor=None)
    second = start(buyer=buyer, title="Oak stool", price_cents=5_000)
    start(title="Someone else's chair")
    client.force_login(buyer)
    html = client.get(ORDERS_URL).content.decode()
    assert html.index("Oak stool") < html.index("Brass lamp")
    assert "Someone else" not in html
    assert "$9.00 refunded" in html
    assert reverse("payments:order", args=[first.pk]) in html
    assert reverse("payments:order", args=[second.pk]) in html and "Pay or cancel" in html
    assert f'href="{ORDERS_URL}"' in html  # the header links here


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(ORDERS_URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_no_orders_says_so(client):
    client.force_login(UserFactory())
    assert "No orders yet." in client.get(ORDERS_URL).content.decode()


@pytest.mark.parametrize("count", [3, 30])
def test_query_count_does_not_grow_and_pages_follow(client, django_assert_max_num_queries, count, settings):
    settings.CHECKOUT_MAX_OPEN_PER_BUYER = settings.CHECKOUT_STARTS_PER_HOUR = count  # a long history
    buyer = UserFactory()
    for _ in range(count):
        start(buyer=buyer)
    client.force_login(buyer)
    with django_assert_max_num_queries(2):  # the user, the page
        response = client.get(ORDERS_URL)
    page = response.context["page"]
    assert len(page.rows) == min(count, 25)
    if count > 25:
        rest = client.get(ORDERS_URL, {"cursor": page.next_cursor}).context["page"]
        assert len(rest.rows) == count - 25 and rest.next_cursor is None
        assert not {txn.pk for txn in rest.rows} & {txn.pk for txn in page.rows}
    tampered = client.get(ORDERS_URL, {"cursor": "not-a-cursor"}).context["page"]
    assert tampered.cursor_invalid and len(tampered.rows) == min(count, 25)
