"""Seller onboarding to Stripe Connect, the payout seam and escrow release through it.

Offline (the test settings have no Stripe keys) Connect is the simulated gateway; the real
``StripeConnectGateway`` is exercised through the ``stripe_http`` interceptor.
"""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.urls import reverse

from accounts.models import AccountStatus, User
from listings.models import ListingStatus
from marketplace.errors import ErrorCode, ServiceError
from payments import payouts
from payments.connect import (
    CONNECT_UNAVAILABLE_MESSAGE,
    PayoutStatus,
    seller_connect_account_create,
    seller_connect_link,
    seller_payout_status,
)
from payments.gateway import PaymentRefused, SimulatedConnectGateway
from payments.models import LedgerEntry, Transaction
from tests.factories import ListingFactory, SellerFactory, UserFactory
from tests.payments.purchase_helpers import paid, reload
from tests.payments.test_commands import age

pytestmark = pytest.mark.django_db

START_URL = "/payments/connect/start/"
RETURN_URL = "/payments/connect/return/"
REFRESH_URL = "/payments/connect/refresh/"
SIMULATED_TEXT = "Test mode: payouts simulated"


def simulated_url(account_id: str) -> str:
    return f"/payments/connect/simulated/{account_id}/"


def run_release() -> str:
    out = StringIO()
    call_command("release_escrow", stdout=out, stderr=out)
    return out.getvalue()


def onboard(client, seller) -> str:
    """The seller clicks through the whole simulated onboarding; returns the account id."""
    client.force_login(seller)
    response = client.post(START_URL)
    seller.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == simulated_url(seller.stripe_connect_id)
    response = client.post(response["Location"])
    assert response.status_code == 302 and response["Location"] == reverse("payments:connect_return")
    return seller.stripe_connect_id


def due_sale(seller, price_cents=10_000) -> Transaction:
    txn = paid(listing=ListingFactory(seller=seller, price_cents=price_cents, currency="USD"))
    age(txn, escrow_release_date=timedelta(minutes=1))
    return txn


# --- Onboarding pages (simulated gateway) -------------------------------------------------------
def test_routes():
    assert reverse("payments:connect_start") == START_URL
    assert reverse("payments:connect_return") == RETURN_URL
    assert reverse("payments:connect_refresh") == REFRESH_URL
    assert reverse("payments:connect_simulated", args=["acct_x"]) == simulated_url("acct_x")


def test_start_creates_one_account_even_when_clicked_twice(client):
    seller = SellerFactory()
    client.force_login(seller)
    first = client.post(START_URL)
    seller.refresh_from_db()
    account_id = seller.stripe_connect_id
    assert account_id and account_id.startswith("acct_sim_")
    second = client.post(START_URL)
    seller.refresh_from_db()
    assert seller.stripe_connect_id == account_id
    assert first["Location"] == second["Location"] == simulated_url(account_id)
    assert SimulatedConnectGateway().retrieve_account(account_id).email == seller.email


def test_a_lost_database_write_gets_the_same_account_back():
    """The Stripe call is idempotent per user: a retry after a crash between the call and the
    commit does not create a second account."""
    seller = SellerFactory()
    first = SimulatedConnectGateway().create_express_account(
        email=seller.email, idempotency_key=f"connect-account-{seller.pk}"
    )
    assert seller_connect_account_create(user=seller).stripe_connect_id == first.id


def test_start_is_post_only_and_needs_login(client):
    seller = SellerFactory()
    assert client.post(START_URL)["Location"].startswith("/accounts/login/")
    client.force_login(seller)
    assert client.get(START_URL).status_code == 405


@pytest.mark.parametrize(
    "user_kwargs",
    [
        {"is_seller": False},
        {"is_seller": True, "email_verified_at": None},
        {"is_seller": True, "account_status": AccountStatus.SUSPENDED},
    ],
    ids=["not-a-seller", "unverified", "suspended"],
)
def test_non_sellers_are_refused(client, user_kwargs):
    user = UserFactory(**user_kwargs)
    client.force_login(user)
    response = client.post(START_URL, follow=True)
    user.refresh_from_db()
    assert user.stripe_connect_id is None
    assert response.redirect_chain[0][0] == "/sell/start/#payouts"
    assert client.get(REFRESH_URL)["Location"] == "/sell/start/#payouts"


def test_simulated_page_completes_onboarding(client):
    seller = SellerFactory()
    client.force_login(seller)
    client.post(START_URL)
    seller.refresh_from_db()
    page = client.get(simulated_url(seller.stripe_connect_id)).content.decode()
    assert SIMULATED_TEXT in page and "Complete onboarding" in page
    body = client.get(RETURN_URL).content.decode()
    assert "Onboarding incomplete" in body and SIMULATED_TEXT in body
    assert client.get(REFRESH_URL)["Location"] == simulated_url(seller.stripe_connect_id)

    response = client.post(simulated_url(seller.stripe_connect_id), follow=True)
    body = response.content.decode()
    assert "Payouts enabled" in body and SIMULATED_TEXT in body
    assert SimulatedConnectGateway().retrieve_account(seller.stripe_connect_id).payout_ready
    assert seller_payout_status(user=seller) == PayoutStatus.ENABLED


def test_someone_elses_simulated_page_is_404(client):
    owner, other = SellerFactory(), SellerFactory()
    client.force_login(owner)
    client.post(START_URL)
    owner.refresh_from_db()
    client.force_login(other)
    assert client.get(simulated_url(owner.stripe_connect_id)).status_code == 404
    assert client.post(simulated_url(owner.stripe_connect_id)).status_code == 404
    assert not SimulatedConnectGateway().retrieve_account(owner.stripe_connect_id).payout_ready


def test_simulated_page_is_404_with_real_stripe(client, settings):
    seller = SellerFactory()
    client.force_login(seller)
    client.post(START_URL)
    seller.refresh_from_db()
    settings.STRIPE_CONNECT_SIMULATED = False
    assert client.get(simulated_url(seller.stripe_connect_id)).status_code == 404
    assert client.post(simulated_url(seller.stripe_connect_id)).status_code == 404


def test_return_without_an_account_goes_to_the_start_page(client):
    client.force_login(SellerFactory())
    assert client.get(RETURN_URL)["Location"] == "/sell/start/#payouts"


# --- Seller pages -----------------------------------------------------------------------
def test_start_page_shows_the_payout_status_and_test_mode(client):
    seller = SellerFactory()
    client.force_login(seller)
    body = client.get("/sell/start/").content.decode()
    assert "Not connected yet" in body and "Set up payouts with Stripe" in body and SIMULATED_TEXT in body
    onboard(client, seller)
    body = client.get("/sell/start/").content.decode()
    assert "Payouts enabled" in body and SIMULATED_TEXT in body


def test_test_mode_text_is_absent_with_real_stripe(client, settings):
    settings.STRIPE_CONNECT_SIMULATED = False
    client.force_login(SellerFactory())
    body = client.get("/sell/start/").content.decode()
    assert "Not connected yet" in body and SIMULATED_TEXT not in body


def test_dashboard_says_why_sales_wait(client, django_assert_max_num_queries):
    seller = SellerFactory()
    due_sale(seller)
    due_sale(seller)
    paid(listing=ListingFactory(seller=seller))  # paid, escrow not over: not waiting
    client.force_login(seller)
    body = client.get("/sell/").content.decode()
    assert SIMULATED_TEXT in body and "Not connected yet" in body
    assert "2 sales past their escrow date are waiting to be paid out" in body
    assert "you have not set up payouts yet" in body
    with django_assert_max_num_queries(5):  # + the sales summary (with the waiting count), recent sales
        client.get("/sell/")

    client.post(START_URL)
    body = client.get("/sell/").content.decode()
    assert "Onboarding incomplete" in body and "your Stripe onboarding is not finished" in body

    seller.refresh_from_db()
    client.post(simulated_url(seller.stripe_connect_id))
    body = client.get("/sell/").content.decode()
    assert "Payouts enabled" in body and "waiting to be paid out" not in body


def test_dashboard_reads_readiness_from_the_cache(client, monkeypatch, django_assert_max_num_queries):
    seller = SellerFactory()
    onboard(client, seller)
    client.get(RETURN_URL)  # where the simulated page sends the seller
    calls = []
    real = SimulatedConnectGateway.retrieve_account
    monkeypatch.setattr(
        SimulatedConnectGateway, "retrieve_account", lambda self, a: calls.append(a) or real(self, a)
    )
    for _ in range(3):
        with django_assert_max_num_queries(3):
            assert "Payouts enabled" in client.get("/sell/").content.decode()
    assert calls == []  # connect_return filled the cache
    client.get(RETURN_URL)
    assert len(calls) == 1  # the return page always asks afresh


# --- The payout seam ------------------------------------------------------------------------
def test_payout_transfer_refuses_until_onboarding_is_done():
    seller = SellerFactory()
    txn = paid(listing=ListingFactory(seller=seller))
    with pytest.raises(payouts.PayoutNotReady, match="Set up payouts"):
        payouts.payout_transfer(txn, amount_cents=100)
    seller_connect_account_create(user=seller)
    txn = reload(txn)
    with pytest.raises(payouts.PayoutNotReady, match="Finish your Stripe onboarding"):
        payouts.payout_transfer(txn, amount_cents=100)
    gateway = SimulatedConnectGateway()
    gateway.complete_onboarding(seller.stripe_connect_id)
    transfer_id = payouts.payout_transfer(txn, amount_cents=100)
    assert transfer_id.startswith("tr_sim_")
    assert payouts.payout_transfer(txn, amount_cents=100) == transfer_id  # idempotent per transaction


def test_release_escrow_end_to_end_with_the_simulated_gateway(client):
    seller = SellerFactory()
    txn = due_sale(seller)
    assert "waiting for the seller's payout account 1" in run_release()
    assert reload(txn).status == Transaction.Status.PROCESSING
    onboard(client, seller)
    assert "Released 1" in run_release()
    stored = reload(txn)
    assert stored.status == Transaction.Status.COMPLETED
    assert stored.transfer_id.startswith("tr_sim_")
    assert stored.listing.status == ListingStatus.SOLD
    entry = LedgerEntry.objects.get(transaction=txn, kind=LedgerEntry.Kind.TRANSFER)
    assert (entry.amount_cents, entry.external_id) == (stored.seller_payout_cents, stored.transfer_id)
    assert "Released 0" in run_release()


def test_payout_reversal_goes_through_the_gateway():
    seller = SellerFactory()
    seller_connect_account_create(user=seller)
    SimulatedConnectGateway().complete_onboarding(seller.stripe_connect_id)
    txn = reload(paid(listing=ListingFactory(seller=seller)))
    txn.transfer_id = payouts.payout_transfer(txn, amount_cents=1_000)
    first = payouts.payout_reversal(txn, amount_cents=400, idempotency_key="reversal-1")
    assert payouts.payout_reversal(txn, amount_cents=400, idempotency_key="reversal-1") == first
    with pytest.raises(PaymentRefused):  # more than is left of the transfer
        payouts.payout_reversal(txn, amount_cents=601, idempotency_key="reversal-2")


# --- The real StripeConnectGateway through the HTTP interceptor -----------------------------
@pytest.fixture
def real_connect(settings, stripe_http):
    settings.STRIPE_CONNECT_SIMULATED = False
    return stripe_http


def test_onboarding_with_real_stripe_sends_the_right_requests(client, real_connect):
    seller = SellerFactory()
    client.force_login(seller)
    first = client.post(START_URL)
    second = client.post(START_URL)
    seller.refresh_from_db()
    accounts = real_connect.matching("POST", "/v1/accounts")
    assert len(accounts) == 1  # the second click found the stored id
    assert accounts[0].idempotency_key == f"connect-account-{seller.pk}"
    assert accounts[0].params["type"] == "express" and accounts[0].params["email"] == seller.email
    assert accounts[0].params["capabilities[transfers][requested]"] == "true"
    assert seller.stripe_connect_id == next(iter(real_connect.accounts))
    for response in (first, second):
        assert response["Location"].startswith(
            f"https://connect.stripe.com/setup/e/{seller.stripe_connect_id}/"
        )
    links = real_connect.matching("POST", "/v1/account_links")
    assert len(links) == 2
    assert links[0].params["account"] == seller.stripe_connect_id
    assert links[0].params["type"] == "account_onboarding"
    assert links[0].params["return_url"] == "http://testserver/payments/connect/return/"
    assert links[0].params["refresh_url"] == "http://testserver/payments/connect/refresh/"

    body = client.get(RETURN_URL).content.decode()
    assert "Onboarding incomplete" in body and SIMULATED_TEXT not in body
    real_connect.set_account(seller.stripe_connect_id, payouts_enabled=True, details_submitted=True)
    assert "Payouts enabled" in client.get(RETURN_URL).content.decode()


def test_start_with_stripe_down_says_so_and_stores_nothing(client, real_connect):
    seller = SellerFactory()
    client.force_login(seller)
    real_connect.fail_next("POST", "/v1/accounts")
    response = client.post(START_URL, follow=True)
    assert "Stripe could not be reached" in response.content.decode()
    seller.refresh_from_db()
    assert seller.stripe_connect_id is None
    client.post(START_URL)
    seller.refresh_from_db()
    assert seller.stripe_connect_id


def test_a_link_stripe_refuses_or_cannot_make_is_a_service_error_with_the_same_message(client, real_connect):
    seller = SellerFactory()
    seller_connect_account_create(user=seller)
    for status, code in ((400, ErrorCode.PAYMENT_REFUSED), (503, ErrorCode.PAYMENT_UNAVAILABLE)):
        real_connect.fail_next("POST", "/v1/account_links", status=status, error_type="invalid_request_error")
        with pytest.raises(ServiceError) as excinfo:
            seller_connect_link(user=seller, refresh_url="http://t/r", return_url="http://t/d")
        assert (excinfo.value.code, excinfo.value.message) == (code, CONNECT_UNAVAILABLE_MESSAGE)
    # The refresh view shows it instead of failing.
    client.force_login(seller)
    real_connect.fail_next("POST", "/v1/account_links", status=500)
    response = client.get(REFRESH_URL, follow=True)
    assert response.status_code == 200
    assert CONNECT_UNAVAILABLE_MESSAGE in response.content.decode()


def test_payout_status_is_unknown_while_stripe_cannot_be_asked(real_connect):
    seller = SellerFactory()
    seller_connect_account_create(user=seller)
    real_connect.fail_next("GET", r"/v1/accounts/.*", status=500)
    assert seller_payout_status(user=seller, fresh=True) == PayoutStatus.UNKNOWN
    assert seller_payout_status(user=seller, fresh=True) == PayoutStatus.INCOMPLETE


def test_real_transfer_request_and_a_payout_error_midway(client, real_connect):
    seller = SellerFactory()
    client.force_login(seller)
    client.post(START_URL)
    seller.refresh_from_db()
    txn = due_sale(seller)
    assert "waiting for the seller's payout account 1" in run_release()
    assert not real_connect.matching("POST", "/v1/transfers")
    real_connect.set_account(seller.stripe_connect_id, payouts_enabled=True, details_submitted=True)

    real_connect.fail_next("POST", "/v1/transfers")
    with pytest.raises(CommandError):
        run_release()
    stored = reload(txn)
    assert stored.status == Transaction.Status.PROCESSING and stored.transfer_id == ""
    assert stored.listing.status == ListingStatus.RESERVED
    assert not LedgerEntry.objects.filter(transaction=txn, kind=LedgerEntry.Kind.TRANSFER).exists()

    assert "Released 1" in run_release()
    stored = reload(txn)
    transfers = real_connect.matching("POST", "/v1/transfers")
    assert len(transfers) == 2  # the failed attempt and the retry, with one key
    assert {t.idempotency_key for t in transfers} == {f"transfer-{txn.pk}"}
    params = transfers[-1].params
    assert params["amount"] == str(txn.seller_payout_cents)
    assert params["currency"] == "usd"
    assert params["destination"] == seller.stripe_connect_id
    assert params["metadata[transaction_id]"] == str(txn.pk)
    assert stored.status == Transaction.Status.COMPLETED
    assert stored.transfer_id == next(iter(real_connect.transfers))
    assert stored.listing.status == ListingStatus.SOLD


def test_payouts_disabled_by_stripe_waits_with_its_reason(real_connect):
    seller = SellerFactory()
    seller_connect_account_create(user=seller)
    real_connect.set_account(seller.stripe_connect_id, details_submitted=True, payouts_enabled=False)
    txn = reload(paid(listing=ListingFactory(seller=seller)))
    with pytest.raises(payouts.PayoutNotReady, match="not enabled payouts"):
        payouts.payout_transfer(txn, amount_cents=100)


# --- Concurrency ------------------------------------------------------------------------
@pytest.mark.usefixtures("ledger_db")
def test_two_simultaneous_clicks_create_one_account():
    seller = SellerFactory()
    barrier = threading.Barrier(2, timeout=20)
    errors, results = [], []

    def click():
        try:
            barrier.wait()
            results.append(
                seller_connect_account_create(user=User.objects.get(pk=seller.pk)).stripe_connect_id
            )
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    seller.refresh_from_db()
    assert results == [seller.stripe_connect_id] * 2
