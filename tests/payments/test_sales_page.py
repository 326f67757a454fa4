"""The seller's sales page at /sell/sales/ and the Sales and Payouts panels of the dashboard:
the seller's own sales only, amounts from the ledger, status tabs, keyset pages and a query
count that does not grow with the sales."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils import timezone

from payments import payouts
from payments.gateway import PaymentRefused, SimulatedConnectGateway
from payments.models import Transaction, TransactionStatus
from payments.selectors import (
    seller_recent_sales,
    seller_sales_counts,
    seller_sales_page,
    seller_sales_summary,
)
from payments.services import transaction_cancel, transaction_refund, transaction_reverse_due
from tests.factories import ListingFactory, SellerFactory, UserFactory
from tests.payments.purchase_helpers import paid, released, start

pytestmark = pytest.mark.django_db

SALES_URL = "/sell/sales/"
DASHBOARD_URL = "/sell/"
Status = TransactionStatus


@pytest.fixture
def seller():
    return SellerFactory(seller_display_name="Ada's Attic")


def sale(seller, make=paid, *, price_cents=10_000, currency="USD", buyer=None, **listing_fields):
    listing = ListingFactory(seller=seller, price_cents=price_cents, currency=currency, **listing_fields)
    return make(listing=listing, buyer=buyer)


def spread(*txns):
    """Give the sales distinct creation times, the first one the oldest (rows made in one
    test transaction share PostgreSQL's now())."""
    base = timezone.now() - timedelta(days=1)
    for index, txn in enumerate(txns):
        Transaction.objects.filter(pk=txn.pk).update(created_at=base + timedelta(minutes=index))


def body_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


# --- Access -----------------------------------------------------------------------------
def test_route():
    assert reverse("sell:sales") == SALES_URL


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(SALES_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")


def test_a_member_who_is_not_a_seller_is_sent_to_start_selling(client):
    buyer = UserFactory()
    client.force_login(buyer)
    response = client.get(SALES_URL, follow=True)
    assert response.redirect_chain == [(reverse("sell:start"), 302)]
    assert "Set up your seller details to start selling." in response.content.decode()


def test_the_seller_sees_only_their_own_sales(client, seller):
    buyer = UserFactory(first_name="Grace", last_name="Hopper", email="grace.private@example.com")
    mine = sale(seller, title="My lamp", buyer=buyer)
    other_seller = SellerFactory()
    theirs = sale(other_seller, title="Their chair")
    client.force_login(seller)
    body = body_of(client.get(SALES_URL))
    assert "My lamp" in body and reverse("payments:order", args=[mine.pk]) in body
    assert "Their chair" not in body and str(theirs.pk) not in body
    assert "Grace Hopper" in body and "grace.private" not in body  # the buyer's name, never the email
    assert reverse("sell:listing_preview", args=[mine.listing_id]) in body
    assert '<meta name="robots" content="noindex, nofollow">' in body

    # The other seller sees theirs, not mine; the buyer of mine is no seller of it.
    client.force_login(other_seller)
    body = body_of(client.get(SALES_URL))
    assert "Their chair" in body and "My lamp" not in body


def test_a_buyer_who_also_sells_does_not_see_their_purchases_as_sales(client, seller):
    purchase = sale(SellerFactory(), title="Bought by the seller", buyer=seller)
    client.force_login(seller)
    body = body_of(client.get(SALES_URL))
    assert "Bought by the seller" not in body and str(purchase.pk) not in body
    assert "No sales yet." in body


# --- Amounts from the ledger --------------------------------------------------------------
def test_a_partial_refund_shows_in_the_row_and_the_summary(client, seller):
    txn = sale(seller, price_cents=10_000)  # fee 10 %: payout 90.00
    transaction_refund(transaction=txn, amount_cents=2_500, refund_id="re_x", actor=None)
    client.force_login(seller)
    response = client.get(SALES_URL)
    body = body_of(response)

    row = response.context["page"].sales[0]
    assert (row.refunded_cents, row.paid_out_cents) == (2_500, 0)
    assert (row.subtotal_cents, row.platform_fee_cents, row.seller_payout_cents) == (10_000, 1_000, 9_000)
    assert "$25.00" in body and "$100.00" in body and "$10.00" in body and "$90.00" in body

    [usd] = response.context["summary"]
    assert (usd.currency, usd.in_escrow_cents, usd.paid_out_cents, usd.refunded_cents, usd.sales_count) == (
        "USD",
        6_500,
        0,
        2_500,
        1,
    )
    assert "$65.00" in body  # in escrow: the payout less the refund


def test_paid_out_is_transfers_net_of_reversals_and_debt_is_owed_apart(seller, monkeypatch):
    """Paid out is money that moved (``ledger.PAID_OUT``); a reversal Stripe refused moved
    nothing, so it stays paid out and shows as owed by the seller (``ledger.SELLER_DEBT``)."""
    done = sale(seller, released, price_cents=20_000)  # transfer of 180.00
    refunded_after_release = sale(seller, released, price_cents=5_000)  # transfer of 45.00
    transaction_refund(transaction=refunded_after_release, amount_cents=1_500, refund_id="re_a", actor=None)
    transaction_reverse_due(transaction=refunded_after_release)  # 15.00 pulled back
    owing = sale(seller, released, price_cents=2_000)  # transfer of 18.00
    transaction_refund(transaction=owing, amount_cents=500, refund_id="re_b", actor=None)

    def refuse(self, **kwargs):
        raise PaymentRefused("Insufficient funds.", param="amount")

    monkeypatch.setattr(SimulatedConnectGateway, "create_transfer_reversal", refuse)
    transaction_reverse_due(transaction=owing)  # Stripe refused: the seller owes 5.00
    sale(seller, start)  # awaiting payment: nothing moved
    eur = sale(seller, paid, price_cents=3_000, currency="EUR")

    page = seller_sales_page(seller=seller, status=None, cursor=None)
    by_id = {txn.pk: txn for txn in page.sales}
    assert by_id[done.pk].paid_out_cents == 18_000
    assert by_id[refunded_after_release.pk].paid_out_cents == 4_500 - 1_500
    assert by_id[refunded_after_release.pk].refunded_cents == 1_500
    assert (by_id[owing.pk].paid_out_cents, by_id[owing.pk].owed_cents) == (1_800, 500)
    assert by_id[refunded_after_release.pk].owed_cents == 0
    assert by_id[eur.pk].paid_out_cents == 0

    summary = {line.currency: line for line in seller_sales_summary(seller=seller)}
    assert list(summary) == ["EUR", "USD"]
    assert (summary["USD"].paid_out_cents, summary["USD"].refunded_cents) == (18_000 + 3_000 + 1_800, 2_000)
    assert (summary["USD"].owed_cents, summary["EUR"].owed_cents) == (500, 0)
    assert (summary["USD"].in_escrow_cents, summary["USD"].sales_count) == (0, 4)
    assert (summary["EUR"].in_escrow_cents, summary["EUR"].paid_out_cents, summary["EUR"].sales_count) == (
        2_700,
        0,
        1,
    )


def test_a_full_refund_before_release_leaves_nothing_in_escrow(seller):
    txn = sale(seller, price_cents=4_000)
    transaction_refund(transaction=txn, amount_cents=4_000, refund_id="re_full", actor=None)
    [usd] = seller_sales_summary(seller=seller)
    assert (usd.in_escrow_cents, usd.refunded_cents, usd.paid_out_cents) == (0, 4_000, 0)
    [row] = seller_sales_page(seller=seller, status=Status.REFUNDED, cursor=None).sales
    assert row.status == Status.REFUNDED and row.refunded_cents == 4_000


def test_a_sale_past_its_escrow_date_says_why_it_waits(client, seller):
    txn = sale(seller)
    Transaction.objects.filter(pk=txn.pk).update(escrow_release_date=timezone.now() - timedelta(hours=1))
    not_due = sale(seller)
    client.force_login(seller)
    response = client.get(SALES_URL)
    rows = {row.pk: row for row in response.context["page"].sales}
    assert rows[txn.pk].payout_wait_reason == payouts.NO_ACCOUNT_MESSAGE
    assert rows[not_due.pk].payout_wait_reason == ""
    assert payouts.NO_ACCOUNT_MESSAGE in body_of(response)
    [usd] = response.context["summary"]
    assert usd.waiting_count == 1


def test_test_mode_notice(client, seller, settings):
    client.force_login(seller)
    settings.STRIPE_CONNECT_SIMULATED = True
    assert "Test mode: payouts simulated" in body_of(client.get(SALES_URL))
    settings.STRIPE_CONNECT_SIMULATED = False
    assert "Test mode: payouts simulated" not in body_of(client.get(SALES_URL))


# --- Status tabs ------------------------------------------------------------------------
def test_tabs_filter_by_status_with_counts(client, seller):
    awaiting = sale(seller, start, title="Awaiting one")
    in_escrow = [sale(seller, paid, title=f"Escrow {n}") for n in range(2)]
    completed = sale(seller, released, title="Completed one")
    cancelled = sale(seller, start, title="Cancelled one")
    transaction_cancel(transaction=cancelled, actor=cancelled.buyer)
    sale(SellerFactory(), paid, title="Someone else's")

    assert seller_sales_counts(seller=seller) == {
        "all": 5,
        "pending": 1,
        "processing": 2,
        "completed": 1,
        "cancelled": 1,
        "refunded": 0,
        "disputed": 0,
    }
    client.force_login(seller)
    response = client.get(SALES_URL, {"status": "processing"})
    tabs = {tab.status: (tab.label, tab.count, tab.current) for tab in response.context["page"].tabs}
    assert tabs["all"] == ("All", 5, False)
    assert tabs["pending"] == ("Awaiting payment", 1, False)
    assert tabs["processing"] == ("Paid, in escrow", 2, True)
    assert tabs["completed"][1] == 1 and tabs["cancelled"][1] == 1 and tabs["disputed"][1] == 0
    assert {row.pk for row in response.context["page"].sales} == {txn.pk for txn in in_escrow}
    body = body_of(response)
    assert 'aria-current="page" class="current">Paid, in escrow <span class="count">2</span>' in body
    assert "Awaiting one" not in body and "Completed one" not in body

    for status, expected in (("pending", awaiting), ("completed", completed), ("cancelled", cancelled)):
        page = client.get(SALES_URL, {"status": status}).context["page"]
        assert [row.pk for row in page.sales] == [expected.pk]

    all_page = client.get(SALES_URL).context["page"]
    assert all_page.status == "all" and len(all_page.sales) == 5
    # An unknown status is the "all" tab, not an error.
    assert client.get(SALES_URL, {"status": "bogus"}).context["page"].status == "all"
    body = body_of(client.get(SALES_URL, {"status": "disputed"}))
    assert "No disputed sales." in body


# --- Keyset pagination ----------------------------------------------------------------------
def test_pages_follow_each_other_newest_first(client, seller):
    txns = [sale(seller, start) for _ in range(7)]
    spread(*txns)
    newest_first = [txn.pk for txn in reversed(txns)]

    first = seller_sales_page(seller=seller, status=None, cursor=None, limit=3)
    assert [row.pk for row in first.sales] == newest_first[:3] and first.next_cursor
    second = seller_sales_page(seller=seller, status=None, cursor=first.next_cursor, limit=3)
    assert [row.pk for row in second.sales] == newest_first[3:6]
    third = seller_sales_page(seller=seller, status=None, cursor=second.next_cursor, limit=3)
    assert [row.pk for row in third.sales] == newest_first[6:] and third.next_cursor is None

    # A cursor of one tab is refused by another.
    other_tab = seller_sales_page(seller=seller, status="pending", cursor=first.next_cursor, limit=3)
    assert other_tab.cursor_invalid and [row.pk for row in other_tab.sales] == newest_first[:3]


def test_more_sales_link_and_a_tampered_cursor(client, seller):
    txns = [sale(seller, start) for _ in range(27)]
    spread(*txns)
    client.force_login(seller)
    response = client.get(SALES_URL)
    page = response.context["page"]
    assert len(page.sales) == 25 and page.next_cursor
    body = body_of(response)
    assert "More sales" in body
    assert f"cursor={page.next_cursor}" in body.replace("%3A", ":")

    response = client.get(SALES_URL, {"status": "all", "cursor": page.next_cursor})
    rest = response.context["page"]
    assert [row.pk for row in rest.sales] == [txns[1].pk, txns[0].pk] and rest.next_cursor is None
    assert "More sales" not in body_of(response)

    response = client.get(SALES_URL, {"status": "all", "cursor": page.next_cursor[:-2] + "xx"})
    assert response.context["page"].cursor_invalid
    assert [row.pk for row in response.context["page"].sales] == [row.pk for row in page.sales]
    assert "That page link is no longer valid; here is the first page." in body_of(response)


# --- Query count --------------------------------------------------------------------------
@pytest.mark.parametrize("count", [3, 30])
def test_query_count_does_not_grow_with_the_sales(client, seller, count, django_assert_max_num_queries):
    for index in range(count):
        txn = sale(seller, released if index % 3 == 0 else paid)
        if index % 3 == 1:
            transaction_refund(transaction=txn, amount_cents=100, refund_id=f"re_q_{index}", actor=None)
    sale(seller, paid, currency="EUR")
    client.force_login(seller)
    # The user, the counts per status, the page (listing, buyer, ledger sums), the summary.
    with django_assert_max_num_queries(4):
        response = client.get(SALES_URL)
    assert len(response.context["page"].sales) == min(count + 1, 25)
    if cursor := response.context["page"].next_cursor:
        with django_assert_max_num_queries(4):
            client.get(SALES_URL, {"status": "all", "cursor": cursor})
    with django_assert_max_num_queries(4):
        client.get(SALES_URL, {"status": "processing"})
    # The dashboard: the user, listing counts, listing page, sales summary, recent sales.
    with django_assert_max_num_queries(5):
        response = client.get(DASHBOARD_URL)
    assert len(response.context["recent_sales"]) == min(count + 1, 5)


# --- Dashboard --------------------------------------------------------------------------
def test_dashboard_shows_recent_sales_and_the_link(client, seller):
    txns = [sale(seller, paid, title=f"Sold thing {n}", price_cents=1_000 * (n + 1)) for n in range(6)]
    spread(*txns)
    theirs = sale(SellerFactory(), paid, title="Not my sale")
    client.force_login(seller)
    response = client.get(DASHBOARD_URL)
    body = body_of(response)
    assert [txn.pk for txn in response.context["recent_sales"]] == [txn.pk for txn in reversed(txns[1:])]
    assert "Sold thing 5" in body and "Sold thing 1" in body
    assert reverse("payments:order", args=[txns[5].pk]) in body
    assert reverse("payments:order", args=[txns[0].pk]) not in body  # the sixth newest is not shown
    assert "Not my sale" not in body and str(theirs.pk) not in body
    assert "Your orders and their status arrive with payments" not in body
    assert f'href="{reverse("sell:sales")}">All sales' in body
    # Payouts panel: in escrow is every payout (10 % fee) of the six paid sales.
    escrow = sum(txn.seller_payout_cents for txn in txns)
    assert escrow == 18_900
    assert "In escrow <strong>$189.00</strong> · paid out <strong>$0.00</strong>" in body


def test_dashboard_of_a_seller_without_sales(client, seller):
    ListingFactory(seller=seller)
    client.force_login(seller)
    response = client.get(DASHBOARD_URL)
    body = body_of(response)
    assert response.context["recent_sales"] == [] and response.context["sales_summary"] == []
    assert "No sales yet." in body and "All sales" in body


def test_recent_sales_selector_is_newest_first_and_limited(seller):
    txns = [sale(seller, start) for _ in range(4)]
    spread(*txns)
    assert [txn.pk for txn in seller_recent_sales(seller=seller, limit=2)] == [txns[3].pk, txns[2].pk]
    assert seller_recent_sales(seller=SellerFactory()) == []


def test_the_summary_is_cached_and_forgotten_when_the_sellers_money_moves(
    seller, django_assert_num_queries, django_capture_on_commit_callbacks
):
    txn = sale(seller, price_cents=10_000)
    [before] = seller_sales_summary(seller=seller)
    with django_assert_num_queries(0):  # from Redis
        assert seller_sales_summary(seller=seller) == [before]
    with django_capture_on_commit_callbacks(execute=True):
        transaction_refund(transaction=txn, amount_cents=1_000, refund_id="re_cache", actor=None)
    [after] = seller_sales_summary(seller=seller)
    assert (before.refunded_cents, after.refunded_cents) == (0, 1_000)
    assert after.in_escrow_cents == before.in_escrow_cents - 1_000
    with django_capture_on_commit_callbacks(execute=True):
        sale(seller)  # a new sale counts at once too
    assert seller_sales_summary(seller=seller)[0].sales_count == 2
