"""Two accepts of different offers on one listing at once: exactly one wins."""

import pytest

from marketplace.errors import ErrorCode, ServiceError
from offers.models import Offer
from offers.services import offer_accept, offer_make
from payments.models import Transaction
from tests.factories import ListingFactory, UserFactory
from tests.messaging.test_concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_accepts_at_once_one_wins_the_other_gets_a_clear_message():
    listing = ListingFactory(pricing_type="negotiable", price_cents=50_000)
    first = offer_make(listing=listing, buyer=UserFactory(), amount_cents=40_000)
    second = offer_make(listing=listing, buyer=UserFactory(), amount_cents=41_000)

    def accept(offer):
        def call():
            try:
                return offer_accept(offer=offer, actor=listing.seller)
            except ServiceError as error:
                return error

        return call

    results = race([accept(first), accept(second)])
    wins = [r for r in results if isinstance(r, Offer)]
    losses = [r for r in results if isinstance(r, ServiceError)]
    assert len(wins) == 1 and len(losses) == 1
    assert losses[0].code in (ErrorCode.RESERVED, ErrorCode.OFFER_CLOSED)
    assert "accepted" in losses[0].message or "reserved" in losses[0].message
    assert Offer.objects.filter(status="accepted").count() == 1
    assert Transaction.objects.count() == 1
    assert Transaction.objects.get().total_cents == wins[0].agreed_cents
