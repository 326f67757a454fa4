"""The buyer's checkout: Buy (start), the checkout page, paying through localstripe, the order page."""

import json
from datetime import timedelta

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from listings.models import Listing
from marketplace.errors import ErrorCode, ServiceError
from payments.gateway import payment_gateway
from payments.models import LedgerEntry, Transaction
from payments.services import (
    RESERVED_MESSAGE,
    ledger_totals,
    transaction_pay,
    transaction_settle_payment_intent,
)
from payments.services.checkout import (
    NO_CARD_MESSAGE,
    NOT_STARTED_MESSAGE,
    PAYMENT_FAILED_MESSAGE,
    PAYMENT_UNAVAILABLE_MESSAGE,
)
from tests.factories import ListingFactory, UserFactory
from tests.payments.purchase_helpers import paid, payment_method, reload, start

pytestmark = pytest.mark.django_db


def pay(client, txn, pm):
    return client.post(
        reverse("payments:checkout_pay", args=[txn.pk]),
        data=json.dumps({"payment_method": pm}),
        content_type="application/json",
    )


def test_buy_starts_a_checkout_and_a_second_buyer_gets_a_clear_message(client):
    listing = ListingFactory(price_cents=4_599)
    buyer = UserFactory()
    client.force_login(buyer)
    url = reverse("payments:checkout_start", args=[listing.slug])
    assert url == f"/payments/checkout/{listing.slug}/"
    response = client.post(url)
    txn = Transaction.objects.get(listing=listing)
    assert response.status_code == 302
    assert response["Location"] == reverse("payments:checkout", args=[txn.pk])
    # A double submit finds the same checkout.
    assert client.post(url)["Location"] == response["Location"]
    assert Transaction.objects.filter(listing=listing).count() == 1
    assert reload(txn).listing.status == Listing.Status.RESERVED

    page = client.get(response["Location"]).content.decode()
    assert "$45.99" in page and "card-element" in page and "Cancel order" in page

    client.force_login(UserFactory())
    response = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == listing.get_absolute_url()
    assert RESERVED_MESSAGE in response.content.decode()
    assert Transaction.objects.filter(listing=listing).count() == 1


def test_buy_needs_login_and_post(client):
    listing = ListingFactory()
    url = reverse("payments:checkout_start", args=[listing.slug])
    assert client.post(url).status_code == 302  # to the login page
    assert not Transaction.objects.exists()
    client.force_login(UserFactory())
    assert client.get(url).status_code == 405


def test_listing_page_buy_button_posts_to_checkout_start(client):
    listing = ListingFactory()
    client.force_login(UserFactory())
    html = client.get(listing.get_absolute_url()).content.decode()
    assert f'action="/payments/checkout/{listing.slug}/"' in html


def test_other_users_get_404_everywhere(client, localstripe):
    txn = start()
    client.force_login(UserFactory())
    assert client.get(reverse("payments:checkout", args=[txn.pk])).status_code == 404
    assert client.get(reverse("payments:order", args=[txn.pk])).status_code == 404
    assert pay(client, txn, "pm_x").status_code == 404
    assert client.post(reverse("payments:checkout_confirm", args=[txn.pk])).status_code == 404
    assert client.post(reverse("payments:checkout_cancel", args=[txn.pk])).status_code == 404
    assert reload(txn).status == Transaction.Status.PENDING


def test_checkout_page_loads_stripe_js_from_settings(client, localstripe, settings):
    txn = start()
    client.force_login(txn.buyer)
    html = client.get(reverse("payments:checkout", args=[txn.pk])).content.decode()
    assert f'src="{settings.STRIPE_JS_URL}"' in html
    assert 'data-publishable-key="pk_test_marketplace_tests"' in html
    assert 'aria-live="polite"' in html


def test_pay_with_4242_succeeds_and_books_the_charge(client, localstripe):
    txn = start(price_cents=2_500)
    client.force_login(txn.buyer)
    response = pay(client, txn, payment_method("4242424242424242"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["redirect"] == reverse("payments:order", args=[txn.pk])
    stored = reload(txn)
    assert stored.status == Transaction.Status.PROCESSING
    assert stored.payment_intent_id.startswith("pi_")
    assert ledger_totals(stored)["charge"] == 2_500
    # The confirm call (after 3-D Secure) and a late webhook-like settle are no-ops now.
    confirm = client.post(reverse("payments:checkout_confirm", args=[txn.pk]))
    assert confirm.json()["status"] == "succeeded"
    assert LedgerEntry.objects.filter(transaction=txn, kind="charge").count() == 1


def test_declined_card_keeps_the_checkout_pending_with_stripes_message(client, localstripe):
    txn = start()
    client.force_login(txn.buyer)
    response = pay(client, txn, payment_method("4000000000000341"))
    assert response.status_code == 402, response.content
    assert response.json()["status"] == "error"
    assert "declined" in response.json()["error"].lower()
    stored = reload(txn)
    assert stored.status == Transaction.Status.PENDING
    assert not LedgerEntry.objects.filter(transaction=txn).exists()
    # Another card then works.
    assert pay(client, txn, payment_method("4242424242424242")).json()["status"] == "succeeded"
    assert reload(txn).status == Transaction.Status.PROCESSING


def test_paying_twice_charges_once(client, localstripe, stripe_http):
    txn = start()
    client.force_login(txn.buyer)
    pm = payment_method("4242424242424242")
    first = pay(client, txn, pm)
    second = pay(client, txn, pm)
    assert first.json()["status"] == second.json()["status"] == "succeeded"
    creates = stripe_http.matching("POST", "/v1/payment_intents")
    assert len(creates) == 1
    assert creates[0].idempotency_key.startswith(f"pi-{txn.pk}")
    assert LedgerEntry.objects.filter(transaction=txn, kind="charge").count() == 1


def test_settling_the_same_intent_again_is_a_no_op(client, localstripe):
    """The webhook may arrive after the pay call marked the transaction paid (or before)."""
    txn = start()
    client.force_login(txn.buyer)
    pay(client, txn, payment_method("4242424242424242"))
    intent = payment_gateway().retrieve_payment_intent(reload(txn).payment_intent_id)
    for _ in range(2):
        transaction_settle_payment_intent(transaction=txn, payment_intent=intent)
    assert reload(txn).status == Transaction.Status.PROCESSING
    assert LedgerEntry.objects.filter(transaction=txn, kind="charge").count() == 1


def test_cancel_releases_the_listing(client):
    txn = start()
    client.force_login(txn.buyer)
    response = client.post(reverse("payments:checkout_cancel", args=[txn.pk]))
    assert response.status_code == 302
    stored = reload(txn)
    assert stored.status == Transaction.Status.CANCELLED
    assert stored.listing.status == Listing.Status.ACTIVE
    # Buying again at once is refused (cooling-off: cancel + Buy must not renew a hold) ...
    refused = client.post(reverse("payments:checkout_start", args=[stored.listing.slug]), follow=True)
    assert "You can reserve it again at" in refused.content.decode()
    assert not Transaction.objects.exclude(pk=txn.pk).filter(listing=stored.listing).exists()
    # ... and once the cooling-off period is over it starts a new checkout.
    Transaction.objects.filter(pk=txn.pk).update(cancelled_at=timezone.now() - timedelta(minutes=16))
    again = client.post(reverse("payments:checkout_start", args=[stored.listing.slug]))
    new = Transaction.objects.exclude(pk=txn.pk).get(listing=stored.listing)
    assert again["Location"] == reverse("payments:checkout", args=[new.pk])


def test_order_page_for_buyer_and_seller_with_ledger_amounts_and_timeline(client, django_assert_num_queries):
    txn = paid(price_cents=12_345)
    client.force_login(txn.buyer)
    url = reverse("payments:order", args=[txn.pk])
    with django_assert_num_queries(3):  # user, transaction (+listing, people), ledger totals
        html = client.get(url).content.decode()
    assert "Processing" in html and "$123.45" in html and "Pending" in html
    assert "Confirm receipt" in html
    client.post(reverse("payments:order_confirm_receipt", args=[txn.pk]))
    assert reload(txn).metadata.get("receipt_confirmed_at")
    assert "Confirm receipt" not in client.get(url).content.decode()

    client.force_login(txn.seller)
    html = client.get(url).content.decode()
    assert client.get(url).status_code == 200
    assert "Confirm receipt" not in html and "Platform fee" in html
    assert "Test mode: payouts simulated" in html  # the seller's payout lines
    assert client.post(reverse("payments:order_confirm_receipt", args=[txn.pk])).status_code == 404
    client.force_login(txn.buyer)
    assert "Test mode: payouts simulated" not in client.get(url).content.decode()


def test_3d_secure_card_requires_action_then_confirm_marks_paid(client, localstripe):
    txn = start(price_cents=1_999)
    client.force_login(txn.buyer)
    body = pay(client, txn, payment_method("4000002760003184")).json()
    assert body["status"] == "requires_action"
    assert body["client_secret"].startswith(reload(txn).payment_intent_id + "_secret_")
    assert body["confirm_url"] == reverse("payments:checkout_confirm", args=[txn.pk])
    assert reload(txn).status == Transaction.Status.PENDING
    # Before authentication, confirming changes nothing.
    assert client.post(body["confirm_url"]).json()["status"] == "requires_action"
    # What stripe.confirmCardPayment does in localstripe's Stripe.js: authenticate the intent.
    pi = reload(txn).payment_intent_id
    response = requests.post(
        f"{localstripe}/v1/payment_intents/{pi}/_authenticate?success=true",
        json={"key": "pk_test_marketplace_tests", "client_secret": body["client_secret"]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    answer = client.post(body["confirm_url"]).json()
    assert answer["status"] == "succeeded"
    assert reload(txn).status == Transaction.Status.PROCESSING
    assert ledger_totals(reload(txn))["charge"] == 1_999


def test_checkout_page_query_count_is_fixed(client, localstripe, django_assert_max_num_queries):
    txn = start()
    client.force_login(txn.buyer)
    with django_assert_max_num_queries(2):  # the user, the transaction with its listing
        assert client.get(reverse("payments:checkout", args=[txn.pk])).status_code == 200


# --- The checkout services' refusals, as the views answer them --------------------------------
def test_pay_without_a_card_is_refused_and_changes_nothing(client, localstripe, stripe_http):
    txn = start()
    client.force_login(txn.buyer)
    url = reverse("payments:checkout_pay", args=[txn.pk])
    for body in (
        "{}",
        json.dumps({"payment_method": "  "}),
        json.dumps({"payment_method": "p" * 256}),
        "nope",
    ):
        response = client.post(url, data=body, content_type="application/json")
        assert response.status_code == 400, body
        assert response.json() == {"status": "error", "error": NO_CARD_MESSAGE}
    assert not stripe_http.matching("POST", "/v1/payment_intents")
    assert not reload(txn).payment_intent_id
    assert reload(txn).status == Transaction.Status.PENDING


def test_confirm_before_any_payment_says_so(client, localstripe):
    txn = start()
    client.force_login(txn.buyer)
    response = client.post(reverse("payments:checkout_confirm", args=[txn.pk]))
    assert response.status_code == 400
    assert response.json()["error"] == NOT_STARTED_MESSAGE


def test_stripe_unreachable_says_so_charges_nothing_and_a_retry_works(client, localstripe, stripe_http):
    """The gateway's PaymentUnavailable reaches the view as a ServiceError: 502 with the
    "could not be reached" message, never a 500."""
    txn = start()
    client.force_login(txn.buyer)
    pm = payment_method("4242424242424242")
    stripe_http.fail_next("POST", "/v1/payment_intents", status=503)
    response = pay(client, txn, pm)
    assert response.status_code == 502
    assert response.json() == {"status": "error", "error": PAYMENT_UNAVAILABLE_MESSAGE}
    assert "could not be reached" in PAYMENT_UNAVAILABLE_MESSAGE
    stored = reload(txn)
    assert stored.status == Transaction.Status.PENDING and not stored.payment_intent_id
    assert pay(client, txn, pm).json()["status"] == "succeeded"


def test_stripe_unreachable_on_confirm_says_so(client, localstripe, stripe_http):
    txn = start()
    client.force_login(txn.buyer)
    assert pay(client, txn, payment_method("4000002760003184")).json()["status"] == "requires_action"
    stripe_http.fail_next("GET", r"/v1/payment_intents/.*", status=500)
    response = client.post(reverse("payments:checkout_confirm", args=[txn.pk]))
    assert response.status_code == 502
    assert response.json()["error"] == PAYMENT_UNAVAILABLE_MESSAGE
    assert reload(txn).status == Transaction.Status.PENDING


def test_a_request_stripe_refuses_shows_its_reason(client, localstripe, stripe_http):
    txn = start()
    client.force_login(txn.buyer)
    stripe_http.fail_next(
        "POST",
        "/v1/payment_intents",
        status=400,
        error_type="invalid_request_error",
        message="No such PaymentMethod",
    )
    response = pay(client, txn, "pm_unknown")
    assert response.status_code == 502
    assert response.json()["error"] == "No such PaymentMethod"
    assert reload(txn).status == Transaction.Status.PENDING


def test_a_failed_3d_secure_step_asks_for_another_card(client, localstripe):
    txn = start()
    client.force_login(txn.buyer)
    body = pay(client, txn, payment_method("4000002760003184")).json()
    response = requests.post(
        f"{localstripe}/v1/payment_intents/{reload(txn).payment_intent_id}/_authenticate?success=false",
        json={"key": "pk_test_marketplace_tests", "client_secret": body["client_secret"]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    answer = client.post(body["confirm_url"])
    assert answer.status_code == 402
    assert answer.json()["error"] == PAYMENT_FAILED_MESSAGE
    # Another card then gets a new intent and works.
    assert pay(client, txn, payment_method("4242424242424242")).json()["status"] == "succeeded"


def test_transaction_pay_maps_a_decline_to_a_service_error(localstripe):
    txn = start()
    with pytest.raises(ServiceError) as excinfo:
        transaction_pay(transaction=txn, buyer=txn.buyer, payment_method=payment_method("4000000000000341"))
    assert excinfo.value.code == ErrorCode.PAYMENT_DECLINED
    assert "declined" in excinfo.value.message.lower()
    with pytest.raises(ServiceError) as excinfo:  # someone else's checkout
        transaction_pay(transaction=txn, buyer=UserFactory(), payment_method="pm_x")
    assert excinfo.value.code == ErrorCode.NOT_FOUND


def test_checkout_views_catch_service_error_only():
    """The views parse and call a service; mapping the gateway's errors is the services' job."""
    import ast
    import inspect

    from payments import checkout_views

    tree = ast.parse(inspect.getsource(checkout_views))
    for function in (
        f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name.startswith("checkout")
    ):
        for handler in (n for n in ast.walk(function) if isinstance(n, ast.ExceptHandler)):
            names = {n.id for n in ast.walk(handler.type) if isinstance(n, ast.Name)}
            # JSON parsing of the request body is the view's own job.
            assert names <= {"ServiceError", "ValueError", "AttributeError"}, (function.name, names)
