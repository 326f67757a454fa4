"""Each move of an offer notifies the party who must act on it, once."""

import pytest

from notifications.models import Notification
from offers.services import offer_accept, offer_counter, offer_decline, offer_make, offers_expire_due
from tests.factories import ListingFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_hooks(django_capture_on_commit_callbacks):
    def run(call, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(**kwargs)

    return run


def kinds(user):
    return sorted(Notification.objects.filter(user=user).values_list("type", flat=True))


def test_offer_counter_accept_notify_the_other_party(run_hooks):
    listing = ListingFactory(pricing_type="negotiable")
    buyer = UserFactory()
    offer = run_hooks(offer_make, listing=listing, buyer=buyer, amount_cents=5_000)
    assert kinds(listing.seller) == ["offer_received"]
    run_hooks(offer_counter, offer=offer, actor=listing.seller, amount_cents=6_000)
    assert kinds(buyer) == ["offer_countered"]
    run_hooks(offer_accept, offer=offer, actor=buyer)
    assert kinds(listing.seller) == ["offer_accepted", "offer_received"]
    assert kinds(buyer) == ["offer_countered"]  # the buyer acted: nothing to tell them


def test_seller_accepts_buyer_is_sent_to_the_checkout_and_others_are_told(run_hooks):
    listing = ListingFactory(pricing_type="negotiable")
    buyer, other = UserFactory(), UserFactory()
    offer = run_hooks(offer_make, listing=listing, buyer=buyer, amount_cents=5_000)
    run_hooks(offer_make, listing=listing, buyer=other, amount_cents=4_000)
    accepted = run_hooks(offer_accept, offer=offer, actor=listing.seller)
    note = Notification.objects.get(user=buyer)
    assert note.type == "offer_accepted" and str(accepted.transaction_id) in note.link_url
    assert kinds(other) == ["offer_declined"]


def test_declines_and_expiry_notify_once(run_hooks):
    listing = ListingFactory(pricing_type="negotiable")
    buyer = UserFactory()
    offer = run_hooks(offer_make, listing=listing, buyer=buyer, amount_cents=5_000)
    run_hooks(offer_decline, offer=offer, actor=listing.seller, reason="Too low")
    assert Notification.objects.get(user=buyer, type="offer_declined").message == "Too low"
    second = run_hooks(offer_make, listing=listing, buyer=buyer, amount_cents=5_500)
    from datetime import timedelta

    from django.utils import timezone

    later = timezone.now() + timedelta(days=3)
    assert run_hooks(offers_expire_due, now=later) == 1
    assert run_hooks(offers_expire_due, now=later) == 0
    assert Notification.objects.filter(type="offer_expired", key__contains=str(second.pk)).count() == 2


def test_a_withdrawn_offer_tells_the_seller(run_hooks):
    from offers.services import offer_withdraw

    listing = ListingFactory(pricing_type="negotiable")
    buyer = UserFactory()
    offer = run_hooks(offer_make, listing=listing, buyer=buyer, amount_cents=5_000)
    run_hooks(offer_withdraw, offer=offer, actor=buyer)
    assert kinds(listing.seller) == ["offer_received", "offer_withdrawn"]
