"""Offer rules: who may offer what, the answers, expiry, and the checkout at the agreed price."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccountStatus
from listings.models import Listing
from marketplace.errors import ErrorCode, ServiceError
from messaging.models import Message
from offers.models import Offer, OfferFloor
from offers.services import (
    offer_accept,
    offer_checkout_closed,
    offer_counter,
    offer_decline,
    offer_floor_set,
    offer_make,
    offer_withdraw,
    offers_expire_due,
)
from payments.fees import platform_fee_cents
from payments.models import Transaction
from payments.services import transaction_expire
from tests.factories import ListingFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = Offer.Status


@pytest.fixture
def listing():
    return ListingFactory(pricing_type="negotiable", price_cents=50_000)


@pytest.fixture
def buyer():
    return UserFactory()


def refused(code, call, **kwargs):
    before = (Offer.objects.count(), Message.objects.count(), Transaction.objects.count())
    with pytest.raises(ServiceError) as excinfo:
        call(**kwargs)
    assert excinfo.value.code == code, excinfo.value.message
    assert (Offer.objects.count(), Message.objects.count(), Transaction.objects.count()) == before
    return excinfo.value


def test_an_offer_is_stored_and_told_in_the_conversation(listing, buyer):
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    assert (offer.status, offer.amount_cents, offer.currency, offer.seller_id) == (
        Status.OPEN,
        40_000,
        "USD",
        listing.seller_id,
    )
    notice = Message.objects.get()
    assert notice.kind == Message.Kind.SYSTEM and notice.sender_id == buyer.pk
    assert "$400.00" in notice.message
    assert notice.conversation.listing_id == listing.pk
    assert offer.expires_at > timezone.now() + timedelta(hours=47)


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("own", ErrorCode.OWN_LISTING),
        ("fixed", ErrorCode.NOT_NEGOTIABLE),
        ("unverified", ErrorCode.EMAIL_UNVERIFIED),
        ("suspended", ErrorCode.ACCOUNT_SUSPENDED),
        ("reserved", ErrorCode.RESERVED),
        ("sold", ErrorCode.SOLD),
        ("draft", ErrorCode.NOT_FOUND),
        ("banned_seller", ErrorCode.NOT_FOUND),
    ],
)
def test_who_may_not_offer(listing, buyer, setup, code):
    if setup == "own":
        buyer = listing.seller
    elif setup == "fixed":
        Listing.objects.filter(pk=listing.pk).update(pricing_type="fixed")
    elif setup == "unverified":
        buyer.email_verified_at = None
        buyer.save()
    elif setup == "suspended":
        buyer.account_status = AccountStatus.SUSPENDED
        buyer.save()
    elif setup in ("reserved", "draft"):
        Listing.objects.filter(pk=listing.pk).update(status=setup)
    elif setup == "sold":
        Listing.objects.filter(pk=listing.pk).update(status=setup, sold_at=timezone.now())
    elif setup == "banned_seller":
        listing.seller.account_status = AccountStatus.BANNED
        listing.seller.save()
    listing.refresh_from_db()
    refused(code, offer_make, listing=listing, buyer=buyer, amount_cents=40_000)


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (0, ErrorCode.BELOW_MINIMUM_CHARGE),
        (-100, ErrorCode.BELOW_MINIMUM_CHARGE),
        (49, ErrorCode.BELOW_MINIMUM_CHARGE),  # under the USD minimum charge
        ("400", ErrorCode.INVALID),
        (None, ErrorCode.INVALID),
        (True, ErrorCode.INVALID),
        (10**15, ErrorCode.INVALID),
    ],
)
def test_bad_amounts_are_refused(listing, buyer, amount, code):
    refused(code, offer_make, listing=listing, buyer=buyer, amount_cents=amount)


def test_the_floor_refuses_lower_offers_without_telling_it(listing, buyer):
    offer_floor_set(listing=listing, actor=listing.seller, floor_cents=30_000)
    error = refused(ErrorCode.OFFER_TOO_LOW, offer_make, listing=listing, buyer=buyer, amount_cents=29_999)
    assert "300" not in error.message
    assert offer_make(listing=listing, buyer=buyer, amount_cents=30_000).status == Status.OPEN


def test_only_the_seller_sets_the_floor(listing, buyer):
    with pytest.raises(ServiceError):
        offer_floor_set(listing=listing, actor=buyer, floor_cents=1_000)
    with pytest.raises(ServiceError):
        offer_floor_set(listing=listing, actor=listing.seller, floor_cents=0)
    assert not OfferFloor.objects.exists()


def test_one_live_offer_per_buyer_and_listing(listing, buyer):
    offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    refused(ErrorCode.INVALID, offer_make, listing=listing, buyer=buyer, amount_cents=41_000)
    # Another buyer may offer too.
    assert offer_make(listing=listing, buyer=UserFactory(), amount_cents=41_000)


def test_a_withdrawn_offer_makes_room_for_a_new_one(listing, buyer):
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    offer_withdraw(offer=offer, actor=buyer)
    assert offer_make(listing=listing, buyer=buyer, amount_cents=42_000).status == Status.OPEN


def test_the_seller_accepts_and_the_buyers_checkout_is_at_the_offered_price(listing, buyer, settings):
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    accepted = offer_accept(offer=offer, actor=listing.seller)
    assert accepted.status == Status.ACCEPTED and accepted.agreed_cents == 40_000
    txn = Transaction.objects.get()
    assert accepted.transaction_id == txn.pk and txn.buyer_id == buyer.pk
    assert txn.subtotal_cents == txn.total_cents == 40_000
    assert txn.platform_fee_cents == platform_fee_cents(40_000, settings.PLATFORM_FEE_BPS)
    assert txn.seller_payout_cents == 40_000 - txn.platform_fee_cents
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.RESERVED
    # The double click: the same answer again changes nothing.
    assert offer_accept(offer=offer, actor=listing.seller).pk == offer.pk
    assert Transaction.objects.count() == 1


def test_counter_then_the_buyer_accepts_the_counter(listing, buyer):
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    countered = offer_counter(offer=offer, actor=listing.seller, amount_cents=45_000)
    assert countered.status == Status.COUNTERED and countered.counter_cents == 45_000
    refused(ErrorCode.FORBIDDEN, offer_accept, offer=offer, actor=listing.seller)
    accepted = offer_accept(offer=offer, actor=buyer)
    assert accepted.agreed_cents == 45_000
    assert Transaction.objects.get().total_cents == 45_000
    texts = list(Message.objects.order_by("created_at").values_list("message", flat=True))
    assert [t.split(" ")[0] for t in texts] == ["Offered", "Countered", "Offer"]


@pytest.mark.parametrize("amount", [40_000, 39_000, 0])
def test_a_counter_must_be_above_the_offer(listing, buyer, amount):
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    with pytest.raises(ServiceError):
        offer_counter(offer=offer, actor=listing.seller, amount_cents=amount)
    offer.refresh_from_db()
    assert offer.status == Status.OPEN and offer.counter_cents is None


def test_answering_out_of_turn_or_someone_elses_offer(listing, buyer):
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    stranger = UserFactory()
    for call in (offer_accept, offer_decline, offer_withdraw):
        refused(ErrorCode.NOT_FOUND, call, offer=offer, actor=stranger)
    refused(ErrorCode.FORBIDDEN, offer_accept, offer=offer, actor=buyer)  # the seller's turn
    refused(ErrorCode.FORBIDDEN, offer_counter, offer=offer, actor=buyer, amount_cents=50_000)
    refused(ErrorCode.FORBIDDEN, offer_withdraw, offer=offer, actor=listing.seller)
    offer.refresh_from_db()
    assert offer.status == Status.OPEN


def test_decline_with_a_reason(listing, buyer):
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    declined = offer_decline(offer=offer, actor=listing.seller, reason="  Too   low  ")
    assert (declined.status, declined.decline_reason) == (Status.DECLINED, "Too low")
    refused(ErrorCode.OFFER_CLOSED, offer_accept, offer=offer, actor=listing.seller)


def test_accept_after_expiry_is_refused_and_the_job_expires_it(listing, buyer):
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    later = timezone.now() + timedelta(hours=49)
    refused(ErrorCode.OFFER_CLOSED, offer_accept, offer=offer, actor=listing.seller, now=later)
    assert offers_expire_due(now=later) == 1
    assert offers_expire_due(now=later) == 0
    offer.refresh_from_db()
    assert offer.status == Status.EXPIRED
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.ACTIVE


def test_accepting_declines_the_other_live_offers(listing, buyer):
    other_buyer = UserFactory()
    mine = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    theirs = offer_make(listing=listing, buyer=other_buyer, amount_cents=38_000)
    offer_accept(offer=mine, actor=listing.seller)
    theirs.refresh_from_db()
    assert theirs.status == Status.DECLINED
    assert "another offer" in theirs.decline_reason
    refused(ErrorCode.OFFER_CLOSED, offer_accept, offer=theirs, actor=listing.seller)


def test_a_lapsed_checkout_lapses_the_offer_and_frees_the_listing(listing, buyer, settings):
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    offer_accept(offer=offer, actor=listing.seller)
    txn = Transaction.objects.get()
    # The normal checkout expiry does not cut an offer's longer window short...
    soon = timezone.now() + timedelta(minutes=settings.CHECKOUT_EXPIRY_MINUTES + 1)
    assert transaction_expire(transaction=txn, now=soon) is False
    # ...its own window does.
    late = timezone.now() + timedelta(hours=settings.OFFER_CHECKOUT_HOURS, minutes=1)
    assert transaction_expire(transaction=txn, now=late) is True
    offer_checkout_closed(transaction_id=txn.pk, paid=False)  # what the order_cancelled hook runs
    offer.refresh_from_db()
    assert offer.status == Status.LAPSED
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.ACTIVE
    # The buyer may offer again.
    assert offer_make(listing=listing, buyer=UserFactory(), amount_cents=40_000)


def test_a_blocked_pair_cannot_negotiate(listing, buyer):
    from messaging.safety import user_block

    user_block(blocker=listing.seller, blocked=buyer)
    refused(ErrorCode.BLOCKED, offer_make, listing=listing, buyer=buyer, amount_cents=40_000)


def test_the_rate_limit(listing, buyer, settings):
    settings.OFFERS_PER_HOUR = 2
    for _ in range(2):
        offer = offer_make(listing=ListingFactory(pricing_type="negotiable"), buyer=buyer, amount_cents=5_000)
        assert offer.status == Status.OPEN
    refused(ErrorCode.RATE_LIMITED, offer_make, listing=listing, buyer=buyer, amount_cents=5_000)


@pytest.mark.parametrize("amount", [50_001, 100_000])
def test_offers_and_counters_stay_at_or_under_the_asking_price(listing, buyer, amount):
    refused(ErrorCode.INVALID, offer_make, listing=listing, buyer=buyer, amount_cents=amount)
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    with pytest.raises(ServiceError) as excinfo:
        offer_counter(offer=offer, actor=listing.seller, amount_cents=amount)
    assert "asking price" in excinfo.value.message
    assert offer_make is not None and Offer.objects.get().status == Status.OPEN


def test_an_accept_the_buyer_cannot_take_is_explained_to_the_seller(listing, buyer, settings):
    offer = offer_make(listing=listing, buyer=buyer, amount_cents=40_000)
    settings.CHECKOUT_MAX_OPEN_PER_BUYER = 0
    error = refused(ErrorCode.TOO_MANY_CHECKOUTS, offer_accept, offer=offer, actor=listing.seller)
    assert error.message.startswith("The buyer cannot be given a checkout")
    offer.refresh_from_db()
    assert offer.status == Status.OPEN
