"""payments.gateway against a localstripe of the test run, and Connect at the HTTP layer.

(Formerly test_stripe_client.py: the same assertions, on the gateway's dataclasses and errors.)
"""

import json
import time

import pytest
import stripe
from django.conf import settings

from payments import gateway
from payments.gateway import (
    PaymentDeclined,
    PaymentIntent,
    PaymentRefused,
    PaymentUnavailable,
    SimulatedConnectGateway,
    StripeConnectGateway,
    charge_id_of,
    connect_gateway,
    payment_gateway,
    verify_webhook,
)
from payments.gateway import stripe_gateway as sg
from tests.payments.stripe_events import payment_intent_object, sign_payload, signed_event, stripe_event

# localstripe's test cards (localstripe/resources.py, PaymentMethod): 4000000000000341 is
# declined when charged, 4000002500003155 asks for 3-D Secure.
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000341"
CARD_3DS = "4000002500003155"


def payment_method(number: str) -> str:
    card = {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    return sg.stripe_client().v1.payment_methods.create({"type": "card", "card": card})["id"]


# --- PaymentIntents and refunds on localstripe --------------------------------------------------
def test_client_is_configured_from_settings(localstripe):
    client = sg.stripe_client()
    options = client._requestor._options
    assert options.api_key == settings.STRIPE_SECRET_KEY
    assert options.base_addresses["api"] == localstripe
    assert sg.http_client()._timeout == settings.STRIPE_TIMEOUT_SECONDS


def test_default_retries_and_timeout():
    assert settings.STRIPE_MAX_NETWORK_RETRIES == 2
    assert settings.STRIPE_TIMEOUT_SECONDS > 0


def test_payment_intent_with_a_good_card_succeeds_and_sends_its_idempotency_key(localstripe, stripe_http):
    intent = payment_gateway().create_payment_intent(
        amount_cents=1999,
        currency="USD",
        payment_method=payment_method(CARD_OK),
        metadata={"transaction_id": "42"},
        idempotency_key="tx-42-charge",
    )
    assert isinstance(intent, PaymentIntent)
    assert intent.status == "succeeded" and intent.succeeded
    assert (intent.amount_cents, intent.currency, intent.metadata["transaction_id"]) == (1999, "usd", "42")
    assert intent.paid_cents == 1999  # amount_received, or the amount where localstripe leaves it 0
    assert intent.charge_id

    [sent] = stripe_http.matching("POST", "/v1/payment_intents")
    assert sent.idempotency_key == "tx-42-charge"
    assert sent.params["amount"] == "1999"
    assert sent.params["capture_method"] == "automatic"
    assert sent.params["confirm"] == "true"
    assert "transfer_group" not in sent.params
    assert not any(key.startswith("automatic_payment_methods") for key in sent.params)

    again = payment_gateway().retrieve_payment_intent(intent.id)
    assert (again.id, again.status, again.charge_id) == (intent.id, "succeeded", intent.charge_id)


def test_payment_intent_without_a_payment_method_waits_for_stripe_js(localstripe):
    intent = payment_gateway().create_payment_intent(
        amount_cents=500, currency="eur", metadata={}, idempotency_key="tx-1"
    )
    assert intent.status == "requires_payment_method"
    assert intent.client_secret.startswith(intent.id)
    assert intent.charge_id is None and not intent.succeeded


def test_cancel_payment_intent(localstripe):
    gw = payment_gateway()
    intent = gw.create_payment_intent(amount_cents=500, currency="usd", metadata={}, idempotency_key="tx-c")
    assert gw.cancel_payment_intent(intent.id).status == "canceled"
    assert gw.retrieve_payment_intent(intent.id).status == "canceled"


def test_three_d_secure_card_requires_action_then_succeeds_once_authenticated(localstripe):
    intent = payment_gateway().create_payment_intent(
        amount_cents=2500,
        currency="usd",
        payment_method=payment_method(CARD_3DS),
        metadata={},
        idempotency_key="tx-3ds",
    )
    assert intent.status == "requires_action" and intent.requires_action
    # What Stripe.js's confirmCardPayment does in the browser after the 3-D Secure dialog.
    sg.stripe_client().raw_request(
        "post",
        f"/v1/payment_intents/{intent.id}/_authenticate",
        client_secret=intent.client_secret,
        success="true",
    )
    assert payment_gateway().retrieve_payment_intent(intent.id).status == "succeeded"


def test_full_and_partial_refunds_and_the_charge_s_refunded_amount(localstripe, stripe_http):
    gw = payment_gateway()
    intent = gw.create_payment_intent(
        amount_cents=3000,
        currency="usd",
        payment_method=payment_method(CARD_OK),
        metadata={},
        idempotency_key="tx-refund",
    )
    partial = gw.create_refund(payment_intent_id=intent.id, amount_cents=1000, idempotency_key="tx-refund-r1")
    assert (partial.amount_cents, partial.status, partial.payment_intent_id) == (1000, "succeeded", intent.id)
    rest = gw.create_refund(payment_intent_id=intent.id, amount_cents=2000, idempotency_key="tx-refund-r2")
    assert rest.amount_cents == 2000
    sent = stripe_http.matching("POST", "/v1/refunds")
    assert [r.idempotency_key for r in sent] == ["tx-refund-r1", "tx-refund-r2"]
    assert [r.params["amount"] for r in sent] == ["1000", "2000"]
    charge = gw.retrieve_charge(intent.charge_id)
    assert (charge.id, charge.amount_cents, charge.amount_refunded_cents) == (intent.charge_id, 3000, 3000)


# --- Error mapping: each stripe error becomes one of the gateway's -----------------------------------
def test_declined_card_raises_payment_declined_with_the_user_message_and_code(localstripe):
    with pytest.raises(PaymentDeclined) as excinfo:
        payment_gateway().create_payment_intent(
            amount_cents=1000,
            currency="usd",
            payment_method=payment_method(CARD_DECLINED),
            metadata={},
            idempotency_key="tx-declined",
        )
    assert excinfo.value.code == "card_declined"
    assert excinfo.value.decline_code
    assert "declined" in excinfo.value.user_message.lower()
    assert isinstance(excinfo.value.__cause__, stripe.CardError)


def test_refund_of_a_failed_payment_is_refused(localstripe):
    gw = payment_gateway()
    intent = gw.create_payment_intent(
        amount_cents=700, currency="usd", metadata={}, idempotency_key="tx-unpaid"
    )
    with pytest.raises(PaymentRefused) as excinfo:
        gw.create_refund(payment_intent_id=intent.id, amount_cents=700, idempotency_key="tx-unpaid-r")
    assert isinstance(excinfo.value.__cause__, stripe.InvalidRequestError)
    assert excinfo.value.user_message


def test_unknown_payment_intent_is_refused(localstripe):
    with pytest.raises(PaymentRefused) as excinfo:
        payment_gateway().retrieve_payment_intent("pi_does_not_exist")
    assert excinfo.value.http_status == 404


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(500, "api_error"), (503, "api_error"), (429, "rate_limit_error"), (401, "invalid_request_error")],
)
def test_server_errors_rate_limits_and_bad_keys_are_unavailable(localstripe, stripe_http, status, error_type):
    stripe_http.fail_next("GET", r"/v1/payment_intents/.*", status=status, error_type=error_type)
    with pytest.raises(PaymentUnavailable) as excinfo:
        payment_gateway().retrieve_payment_intent("pi_123")
    assert excinfo.value.http_status == status


def test_idempotency_key_reused_with_other_parameters_is_refused(localstripe, stripe_http):
    stripe_http.fail_next(
        "POST", "/v1/payment_intents", status=400, error_type="idempotency_error", message="Keys for..."
    )
    with pytest.raises(PaymentRefused):
        payment_gateway().create_payment_intent(
            amount_cents=1, currency="usd", metadata={}, idempotency_key="k"
        )


def test_a_provider_that_cannot_be_reached_is_unavailable(localstripe, settings):
    from marketplace import embedded

    settings.STRIPE_API_BASE = f"http://127.0.0.1:{embedded.free_port()}"  # nobody listens there
    with pytest.raises(PaymentUnavailable) as excinfo:
        payment_gateway().retrieve_payment_intent("pi_123")
    assert isinstance(excinfo.value.__cause__, stripe.APIConnectionError)
    with pytest.raises(PaymentUnavailable):
        StripeConnectGateway().retrieve_account("acct_123")


def test_charge_id_of_reads_either_api_version_without_a_network_call():
    assert charge_id_of({"latest_charge": "ch_1"}) == "ch_1"
    assert charge_id_of({"latest_charge": {"id": "ch_2", "object": "charge"}}) == "ch_2"
    assert (
        charge_id_of({"latest_charge": None, "charges": {"data": [{"id": "ch_a"}, {"id": "ch_b"}]}}) == "ch_b"
    )
    assert charge_id_of({"latest_charge": None}) is None
    assert charge_id_of({}) is None


# --- StripeConnectGateway, answered by the interceptor ---------------------------------------------
def test_stripe_connect_gateway_requests(stripe_http, settings):
    settings.STRIPE_CONNECT_SIMULATED = False
    gw = connect_gateway()
    assert isinstance(gw, StripeConnectGateway)

    account = gw.create_express_account(email="seller@example.com", idempotency_key="seller-7-account")
    assert account.id.startswith("acct_")
    assert not account.payout_ready
    [sent] = stripe_http.matching("POST", "/v1/accounts")
    assert sent.idempotency_key == "seller-7-account"
    assert sent.params == {
        "type": "express",
        "email": "seller@example.com",
        "capabilities[transfers][requested]": "true",
    }
    assert sent.headers["Authorization"] == f"Bearer {settings.STRIPE_SECRET_KEY}"

    link = gw.create_account_link(
        account_id=account.id, refresh_url="http://t/refresh", return_url="http://t/return"
    )
    assert link.url.startswith("https://connect.stripe.com/")
    [sent] = stripe_http.matching("POST", "/v1/account_links")
    assert sent.params == {
        "account": account.id,
        "refresh_url": "http://t/refresh",
        "return_url": "http://t/return",
        "type": "account_onboarding",
    }

    # A transfer to an account that has not finished onboarding is refused, as on Stripe.
    with pytest.raises(PaymentRefused):
        gw.create_transfer(
            amount_cents=900,
            currency="USD",
            destination=account.id,
            idempotency_key="tx-1-payout",
            metadata={},
        )
    stripe_http.set_account(account.id, payouts_enabled=True, charges_enabled=True, details_submitted=True)
    assert gw.retrieve_account(account.id).payout_ready
    assert stripe_http.matching("GET", f"/v1/accounts/{account.id}")

    transfer = gw.create_transfer(
        amount_cents=900,
        currency="USD",
        destination=account.id,
        idempotency_key="tx-1-payout-2",
        metadata={"transaction_id": "1"},
    )
    assert (transfer.amount_cents, transfer.currency, transfer.destination) == (900, "usd", account.id)
    sent = stripe_http.matching("POST", "/v1/transfers")[-1]
    assert sent.idempotency_key == "tx-1-payout-2"
    assert sent.params == {
        "amount": "900",
        "currency": "usd",
        "destination": account.id,
        "metadata[transaction_id]": "1",
    }

    reversal = gw.create_transfer_reversal(
        transfer_id=transfer.id, amount_cents=400, idempotency_key="tx-1-rev"
    )
    assert (reversal.transfer_id, reversal.amount_cents) == (transfer.id, 400)
    [sent] = stripe_http.matching("POST", rf"/v1/transfers/{transfer.id}/reversals")
    assert (sent.idempotency_key, sent.params) == ("tx-1-rev", {"amount": "400"})
    # More than is left of the transfer is refused.
    with pytest.raises(PaymentRefused):
        gw.create_transfer_reversal(transfer_id=transfer.id, amount_cents=501, idempotency_key="tx-1-rev-2")


def test_interceptor_replays_a_repeated_idempotency_key_and_injects_failures(stripe_http, settings):
    gw = StripeConnectGateway()
    first = gw.create_express_account(email="a@example.com", idempotency_key="k1")
    assert gw.create_express_account(email="a@example.com", idempotency_key="k1").id == first.id
    assert gw.create_express_account(email="a@example.com", idempotency_key="k2").id != first.id

    stripe_http.fail_next("POST", "/v1/accounts", status=500)
    with pytest.raises(PaymentUnavailable) as excinfo:
        gw.create_express_account(email="b@example.com", idempotency_key="k3")
    assert isinstance(excinfo.value.__cause__, stripe.APIError)
    assert gw.create_express_account(email="b@example.com", idempotency_key="k3").id.startswith("acct_")


def test_interceptor_never_reaches_the_internet(stripe_http, settings):
    settings.STRIPE_API_BASE = "https://api.stripe.com"
    with pytest.raises(PaymentUnavailable) as excinfo:
        payment_gateway().retrieve_payment_intent("pi_123")
    assert isinstance(excinfo.value.__cause__, stripe.APIConnectionError)


# --- SimulatedConnectGateway (Redis) ----------------------------------------------------------------
def test_connect_gateway_is_simulated_in_local_mode(settings):
    settings.STRIPE_CONNECT_SIMULATED = True
    assert isinstance(connect_gateway(), SimulatedConnectGateway)
    assert connect_gateway().simulated


def test_simulated_account_idempotency_and_onboarding():
    gw = SimulatedConnectGateway()
    account = gw.create_express_account(email="s@example.com", idempotency_key="seller-1")
    assert account.id.startswith("acct_sim_")
    assert gw.create_express_account(email="s@example.com", idempotency_key="seller-1") == account
    other = gw.create_express_account(email="s@example.com", idempotency_key="seller-2")
    assert other.id != account.id
    with pytest.raises(PaymentRefused) as excinfo:  # Stripe's idempotency error
        gw.create_express_account(email="other@example.com", idempotency_key="seller-1")
    assert excinfo.value.code == "idempotency_error"

    link = gw.create_account_link(account_id=account.id, refresh_url="/r", return_url="/d")
    assert link.url == f"/payments/connect/simulated/{account.id}/"
    assert not gw.retrieve_account(account.id).payout_ready
    gw.complete_onboarding(account.id)
    assert SimulatedConnectGateway().retrieve_account(account.id).payout_ready
    # An id Redis no longer knows reads as a fresh account, to be onboarded again.
    assert not gw.retrieve_account("acct_sim_unknown").payout_ready


def test_simulated_transfers_and_reversals():
    gw = SimulatedConnectGateway()
    account = gw.create_express_account(email="s@example.com", idempotency_key="seller-9")

    def transfer(key, amount=1000):
        return gw.create_transfer(
            amount_cents=amount,
            currency="USD",
            destination=account.id,
            idempotency_key=key,
            metadata={"t": "9"},
        )

    with pytest.raises(PaymentRefused):
        transfer("tx-9")  # not onboarded yet
    gw.complete_onboarding(account.id)
    first = transfer("tx-9")
    assert (first.amount_cents, first.currency, first.metadata) == (1000, "usd", {"t": "9"})
    assert transfer("tx-9") == first
    assert transfer("tx-10").id != first.id
    with pytest.raises(PaymentRefused):
        transfer("tx-9", amount=999)
    with pytest.raises(PaymentRefused):
        transfer("tx-11", amount=0)

    reversal = gw.create_transfer_reversal(transfer_id=first.id, amount_cents=600, idempotency_key="r1")
    assert (
        gw.create_transfer_reversal(transfer_id=first.id, amount_cents=600, idempotency_key="r1") == reversal
    )
    with pytest.raises(PaymentRefused):
        gw.create_transfer_reversal(transfer_id=first.id, amount_cents=401, idempotency_key="r2")
    second = gw.create_transfer_reversal(transfer_id=first.id, amount_cents=400, idempotency_key="r3")
    assert second.id != reversal.id
    assert transfer("tx-9").amount_reversed_cents == 1000
    with pytest.raises(PaymentRefused):
        gw.create_transfer_reversal(transfer_id="tr_sim_missing", amount_cents=1, idempotency_key="r4")


# --- Webhook signatures ----------------------------------------------------------------------
def test_signed_event_is_accepted_by_construct_event_and_tampering_is_refused():
    secret = "whsec_signing_test"
    event = stripe_event("payment_intent.succeeded", payment_intent_object("pi_1", amount=1500))
    payload, header = signed_event(event, secret=secret)
    assert header.startswith("t=") and ",v1=" in header

    parsed = stripe.Webhook.construct_event(payload, header, secret)
    assert (parsed.id, parsed.type, parsed.data.object.amount) == (
        event["id"],
        "payment_intent.succeeded",
        1500,
    )

    tampered = payload.replace("1500", "1")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, header, secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_other")
    old = sign_payload(payload, secret=secret, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, old, secret)  # older than the 300 s tolerance


def test_signing_defaults_to_the_webhook_secret_setting(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_from_settings"
    payload = json.dumps(stripe_event("account.updated", {"id": "acct_1", "object": "account"}))
    stripe.Webhook.construct_event(payload, sign_payload(payload), "whsec_from_settings")


def test_verify_webhook_returns_the_event_as_a_plain_dict_or_refuses(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_verify"
    event = stripe_event("payment_intent.succeeded", payment_intent_object("pi_9", amount=700))
    payload, header = signed_event(event, secret="whsec_verify")
    verified = verify_webhook(payload.encode(), header)
    assert verified == event and type(verified) is dict

    cases = [
        (payload.replace("700", "1").encode(), header, "Invalid signature."),
        (payload.encode(), None, "Missing Stripe-Signature header."),
        (b"\xff\xfe", header, "Malformed payload."),
    ]
    not_an_event = json.dumps({"id": "evt_1"})
    cases.append(
        (not_an_event.encode(), sign_payload(not_an_event, secret="whsec_verify"), "Not a Stripe event.")
    )
    for body, signature, reason in cases:
        with pytest.raises(gateway.InvalidWebhook, match=reason):
            verify_webhook(body, signature)
    settings.STRIPE_WEBHOOK_SECRET = ""
    with pytest.raises(gateway.InvalidWebhook, match="not configured"):
        verify_webhook(payload.encode(), header)


def test_verify_webhook_refuses_timestamps_outside_the_tolerance_on_either_side(settings):
    """The stripe library checks only the past: a signed event dated a day ahead passes it."""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_verify"
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    event = stripe_event("payment_intent.succeeded", payment_intent_object("pi_9", amount=700))
    payload = json.dumps(event)
    now = int(time.time())
    ahead = sign_payload(payload, secret="whsec_verify", timestamp=now + 24 * 60 * 60)
    stripe.Webhook.construct_event(payload, ahead, "whsec_verify")  # what the library lets through
    for offset in (24 * 60 * 60, 400, -400, -24 * 60 * 60):
        header = sign_payload(payload, secret="whsec_verify", timestamp=now + offset)
        with pytest.raises(gateway.InvalidWebhook, match="Timestamp outside the tolerance"):
            verify_webhook(payload.encode(), header)
    for offset in (-250, 0, 250):
        header = sign_payload(payload, secret="whsec_verify", timestamp=now + offset)
        assert verify_webhook(payload.encode(), header) == event
    # The signed timestamp is the first t= (the one the signature covers), not a later one.
    header = sign_payload(payload, secret="whsec_verify", timestamp=now + 24 * 60 * 60)
    with pytest.raises(gateway.InvalidWebhook, match="Timestamp outside the tolerance"):
        verify_webhook(payload.encode(), f"{header},t={now}")

    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 30 * 24 * 60 * 60
    assert verify_webhook(payload.encode(), ahead) == event

    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    future = dict(event, created=now + 24 * 60 * 60)
    future_payload, future_header = signed_event(future, secret="whsec_verify")
    with pytest.raises(gateway.InvalidWebhook, match="Event dated in the future"):
        verify_webhook(future_payload.encode(), future_header)
