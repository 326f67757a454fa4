"""Fetch-and-check for one order (``access_transaction``), what its viewer may do
(``order_capabilities``), and the one rule for who may refund (``may_refund``)."""

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from marketplace.errors import ErrorCode, ServiceError
from payments.models import Transaction
from payments.selectors import access_transaction, may_refund, order_capabilities, refund_authority
from payments.services import (
    SYSTEM,
    ensure_can_refund,
    refund_issue,
    transaction_confirm_receipt,
    transaction_refund,
)
from tests.factories import UserFactory
from tests.payments.purchase_helpers import paid, release, reload, staff_with, start

pytestmark = pytest.mark.django_db

S = Transaction.Status


@pytest.fixture
def people():
    return {
        "staff": staff_with("refund_transaction"),
        "stranger": UserFactory(),
        "anonymous": AnonymousUser(),
    }


ALLOWED = {
    "buyer": {"buyer"},
    "seller": {"seller"},
    "party": {"buyer", "seller", "staff"},
    "refunder": {"seller", "staff"},
}


@pytest.mark.parametrize("as_", sorted(ALLOWED))
def test_access_lets_in_exactly_the_roles_people_and_404s_everyone_else(
    as_, people, django_assert_num_queries
):
    txn = paid()
    everyone = {"buyer": txn.buyer, "seller": txn.seller, **people}
    for name, user in everyone.items():
        if name in ALLOWED[as_]:
            with django_assert_num_queries(1):
                found = access_transaction(user, txn.pk, as_=as_)
            assert found.pk == txn.pk and found.listing.pk == txn.listing_id
            assert (found.buyer.pk, found.seller.pk) == (txn.buyer_id, txn.seller_id)  # joined
        else:
            with pytest.raises(Http404):
                access_transaction(user, txn.pk, as_=as_)


@pytest.mark.parametrize("bad_id", [uuid.uuid4(), "not-a-uuid", "", None])
def test_an_unknown_or_malformed_id_is_a_404_like_someone_elses(bad_id, people):
    with pytest.raises(Http404):
        access_transaction(people["staff"], bad_id, as_="party")


def test_an_unknown_role_is_a_programming_error():
    txn = paid()
    with pytest.raises(ValueError, match="as_ must be one of"):
        access_transaction(txn.buyer, txn.pk, as_="anyone")


# --- Who may refund: one rule ----------------------------------------------------------------
def test_may_refund_is_the_seller_or_staff_and_never_no_one(people):
    txn = paid()
    assert may_refund(txn.seller, txn) and may_refund(people["staff"], txn)
    assert not may_refund(txn.buyer, txn)
    assert not may_refund(people["stranger"], txn)
    assert not may_refund(people["anonymous"], txn)
    assert not may_refund(None, txn)


def test_staff_refund_only_with_the_permission_and_the_seller_always(people):
    txn = paid()
    assert refund_authority(txn.seller, txn) == "seller"
    assert refund_authority(people["staff"], txn) == "staff"
    superuser = UserFactory(is_staff=True, is_superuser=True)
    assert refund_authority(superuser, txn) == "staff"
    looker = staff_with()  # staff who may open the admin, without the refund permission
    assert refund_authority(looker, txn) is None and not may_refund(looker, txn)
    # A permission without staff status is not enough either; nor staff status without activity.
    assert not may_refund(staff_with("refund_transaction", is_staff=False), txn)
    assert not may_refund(staff_with("refund_transaction", is_active=False), txn)
    # The seller needs no permission, even when they are staff without it.
    own = paid(seller=staff_with(is_seller=True))
    assert refund_authority(own.seller, own) == "seller"
    with pytest.raises(ServiceError) as excinfo:
        ensure_can_refund(txn, looker)
    assert excinfo.value.code == ErrorCode.FORBIDDEN
    with pytest.raises(ServiceError) as excinfo:
        refund_issue(transaction=txn, amount_cents=100, actor=looker, request_key="k", reason="why")
    assert excinfo.value.code == ErrorCode.FORBIDDEN
    caps = order_capabilities(looker, txn)
    assert caps.is_staff and not caps.can_refund and not caps.refund_as_staff
    assert order_capabilities(people["staff"], txn).refund_as_staff
    assert not order_capabilities(txn.seller, txn).refund_as_staff


def test_the_system_books_refunds_but_never_issues_one():
    txn = paid(price_cents=10_000)
    with pytest.raises(ServiceError) as excinfo:
        refund_issue(transaction=txn, amount_cents=1_000, actor=SYSTEM, request_key="k")
    assert excinfo.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(ServiceError):
        ensure_can_refund(txn, SYSTEM)
    ensure_can_refund(txn, SYSTEM, booking=True)
    transaction_refund(transaction=txn, amount_cents=1_000, refund_id="re_system", actor=SYSTEM)


def test_a_buyer_or_stranger_cannot_book_a_refund(people):
    txn = paid(price_cents=10_000)
    for actor in (txn.buyer, people["stranger"]):
        with pytest.raises(ServiceError) as excinfo:
            transaction_refund(transaction=txn, amount_cents=1_000, refund_id="re_no", actor=actor)
        assert excinfo.value.code == ErrorCode.NOT_FOUND
    assert reload(txn).status == S.PROCESSING


# --- What the viewer may do ----------------------------------------------------------------------
def test_capabilities_of_each_viewer_of_a_paid_order(people):
    txn = paid(price_cents=10_000)
    transaction_refund(transaction=txn, amount_cents=1_000, refund_id="re_cap", actor=SYSTEM)
    txn = reload(txn)
    buyer = order_capabilities(txn.buyer, txn)
    assert (buyer.is_buyer, buyer.can_confirm_receipt, buyer.can_pay, buyer.can_refund) == (
        True,
        True,
        False,
        False,
    )
    assert not buyer.sees_payout
    seller = order_capabilities(txn.seller, txn)
    assert (seller.is_seller, seller.can_confirm_receipt, seller.can_refund) == (True, False, True)
    assert (seller.refund_remaining_cents, seller.refund_partial_max_cents) == (9_000, 8_000)
    assert seller.sees_payout and not seller.refund_after_release
    staff = order_capabilities(people["staff"], txn)
    assert staff.can_refund and staff.is_staff and not staff.is_buyer
    stranger = order_capabilities(people["stranger"], txn)
    assert not (stranger.can_refund or stranger.can_confirm_receipt or stranger.can_pay)


def test_capabilities_follow_the_status():
    pending = start()
    assert order_capabilities(pending.buyer, pending).can_pay
    assert not order_capabilities(pending.seller, pending).can_refund  # nothing paid to refund
    txn = paid()
    transaction_confirm_receipt(transaction=txn, actor=txn.buyer)
    txn = reload(txn)
    assert not order_capabilities(txn.buyer, txn).can_confirm_receipt  # confirmed once
    transaction_confirm_receipt(transaction=txn, actor=txn.buyer)  # a double submit: a no-op
    released = release(paid())
    seller = order_capabilities(released.seller, reload(released))
    assert seller.can_refund and seller.refund_after_release


def test_confirm_receipt_asks_the_same_predicate():
    txn = paid()
    with pytest.raises(ServiceError) as excinfo:
        transaction_confirm_receipt(transaction=txn, actor=txn.seller)
    assert excinfo.value.code == ErrorCode.NOT_FOUND
    done = release(paid())
    with pytest.raises(ServiceError) as excinfo:
        transaction_confirm_receipt(transaction=done, actor=done.buyer)
    assert excinfo.value.code == ErrorCode.INVALID_TRANSITION
