"""Payouts of sellers not in good standing are held for staff (issue 11, item 3): release_escrow
holds them, the order page and the sales page say why, reconcile lists them, and staff with the
permission release them with a reason (service, admin action, order page) or refund the buyer."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.models import AccountStatus
from accounts.services import user_ban, user_reinstate, user_suspend
from marketplace.errors import ErrorCode, ServiceError
from payments.models import LedgerEntry, StaffDecision, Transaction
from payments.selectors import held_payouts, order_capabilities, payout_hold_reason
from payments.services import refund_issue, transaction_release_due, transaction_release_held_payout
from tests.factories import ListingFactory, SellerFactory, UserFactory
from tests.payments.purchase_helpers import paid, paid_at_stripe, reload, staff_with
from tests.payments.test_commands import onboarded_account

pytestmark = pytest.mark.django_db

S = Transaction.Status
K = LedgerEntry.Kind
MODERATOR = {}
HELD = {
    "banned": "Payout held: the seller's account is banned; staff review it.",
    "suspended": "Payout held: the seller's account is suspended; staff review it.",
}
SHOWN = {status: escape(message) for status, message in HELD.items()}  # as HTML renders it


def moderate(seller, status: str):
    moderator = MODERATOR.get("user")
    if moderator is None:
        moderator = UserFactory(is_staff=True)
        # Issue 15: suspending, banning and reinstating need their own permission.
        moderator.user_permissions.add(Permission.objects.get(codename="moderate_user"))
    action = {"banned": user_ban, "suspended": user_suspend, "active": user_reinstate}[status]
    action(user=seller, actor=moderator, reason="Test moderation")
    seller.refresh_from_db()


def due(status: str | None = None, make=paid, **kwargs):
    """A paid sale past its escrow date, its seller able to receive payouts, then moderated."""
    seller = SellerFactory(stripe_connect_id=onboarded_account())
    txn = make(listing=ListingFactory(seller=seller, price_cents=10_000), **kwargs)
    Transaction.objects.filter(pk=txn.pk).update(escrow_release_date=timezone.now() - timedelta(hours=1))
    if status:
        moderate(seller, status)
    return reload(txn)


def run(name: str) -> str:
    out = StringIO()
    call_command(name, stdout=out, stderr=out)
    return out.getvalue()


def transfers(txn) -> int:
    return LedgerEntry.objects.filter(transaction=txn, kind=K.TRANSFER).count()


# --- release_escrow holds them ----------------------------------------------------------------
@pytest.mark.parametrize("status", ["banned", "suspended"])
def test_release_escrow_holds_the_payout_of_a_seller_not_in_good_standing(status):
    """The issue's input: release_escrow printed "Released 1" for a banned seller."""
    held, fine = due(status), due()
    dry = StringIO()
    call_command("release_escrow", "--dry-run", stdout=dry)
    assert "2 transactions are due for release (1 of them held for staff" in dry.getvalue()
    out = run("release_escrow")
    assert "Released 1; held for staff (seller not in good standing) 1;" in out
    assert reload(held).status == S.PROCESSING and reload(held).escrow_released_at is None
    assert transfers(held) == 0  # nothing transferred
    assert reload(fine).status == S.COMPLETED
    assert transaction_release_due(transaction=held) == "held"
    assert "Released 0; held for staff (seller not in good standing) 1;" in run("release_escrow")


def test_a_reinstated_seller_is_paid_by_the_next_run():
    txn = due("suspended")
    assert "held for staff (seller not in good standing) 1" in run("release_escrow")
    moderate(reload(txn).seller, "active")
    assert "Released 1" in run("release_escrow")
    assert reload(txn).status == S.COMPLETED and transfers(txn) == 1


def test_the_hold_reason_is_one_rule():
    txn = due()
    not_due = paid(listing=ListingFactory(seller=txn.seller))
    moderate(txn.seller, "banned")
    txn, not_due = reload(txn), reload(not_due)
    assert payout_hold_reason(txn) == HELD["banned"]
    assert [row.pk for row in held_payouts()] == [txn.pk]
    assert held_payouts()[0].hold_reason == HELD["banned"]
    assert payout_hold_reason(not_due) == HELD["banned"]  # held too, though not due yet
    assert [row.pk for row in held_payouts()] == [txn.pk]  # but only the due ones are listed
    fine = due()
    assert payout_hold_reason(fine) == ""


# --- The pages say why --------------------------------------------------------------------------
def test_order_page_says_why_to_the_seller_and_staff_not_the_buyer(client, django_assert_num_queries):
    txn = due("suspended")
    order_url = reverse("payments:order", args=[txn.pk])
    client.force_login(txn.seller)  # suspended sellers can still log in
    with django_assert_num_queries(3):  # session user, the order (seller joined), the ledger
        assert SHOWN["suspended"] in client.get(order_url).content.decode()
    client.force_login(txn.buyer)
    assert "Payout held" not in client.get(order_url).content.decode()
    staff = staff_with("refund_transaction", "release_held_payout")
    client.force_login(staff)
    with django_assert_num_queries(5):  # the same, and the staff member's permissions (user, groups)
        body = client.get(order_url).content.decode()
    assert SHOWN["suspended"] in body
    assert "Release the held payout" in body  # staff with the permission get the form
    client.force_login(staff_with())
    body = client.get(order_url).content.decode()
    assert SHOWN["suspended"] in body and "Release the held payout" not in body


def test_sales_page_says_why_and_keeps_its_query_count(client, django_assert_max_num_queries):
    txn = due("suspended")
    client.force_login(txn.seller)
    with django_assert_max_num_queries(4):
        response = client.get("/sell/sales/")
    [row] = response.context["page"].sales
    assert row.payout_wait_reason == HELD["suspended"]
    assert SHOWN["suspended"] in response.content.decode()


# --- reconcile lists them -------------------------------------------------------------------------
def test_reconcile_lists_held_payouts_and_does_not_call_them_stuck(settings):
    settings.TRANSACTION_STUCK_HOURS = 1
    txn = due("banned")
    Transaction.objects.filter(pk=txn.pk).update(escrow_release_date=timezone.now() - timedelta(days=3))
    out = run("reconcile")
    assert f"HELD {txn.pk} $90.00 to seller {txn.seller_id}" in out
    assert HELD["banned"] in out
    assert "1 payouts are held for staff" in out
    assert "STUCK" not in out
    assert "Every transaction reconciles" in out


# --- Staff release them -------------------------------------------------------------------------
def test_staff_release_a_held_payout_with_a_reason():
    txn = due("banned")
    staff = staff_with("release_held_payout")
    for actor in (staff_with(), UserFactory(), txn.seller):
        with pytest.raises(ServiceError) as excinfo:
            transaction_release_held_payout(transaction=txn, actor=actor, reason="ok")
        assert excinfo.value.code == ErrorCode.FORBIDDEN
    for reason in ("", "   ", None):
        with pytest.raises(ServiceError) as excinfo:
            transaction_release_held_payout(transaction=txn, actor=staff, reason=reason)
        assert excinfo.value.code == ErrorCode.INCOMPLETE
    assert transfers(txn) == 0 and not StaffDecision.objects.exists()

    released = transaction_release_held_payout(transaction=txn, actor=staff, reason="Ban was for spam only")
    assert released.status == S.COMPLETED and transfers(txn) == 1
    [decision] = StaffDecision.objects.all()
    assert (decision.kind, decision.actor_id, decision.amount_cents, decision.reason) == (
        "release_held_payout",
        staff.pk,
        9_000,
        "Ban was for spam only",
    )
    with pytest.raises(ServiceError) as excinfo:  # twice: nothing more
        transaction_release_held_payout(transaction=txn, actor=staff, reason="again")
    assert excinfo.value.code == ErrorCode.INVALID_TRANSITION
    assert transfers(txn) == 1


def test_only_held_and_due_payouts_are_released_by_staff():
    staff = staff_with("release_held_payout")
    fine = due()
    with pytest.raises(ServiceError) as excinfo:
        transaction_release_held_payout(transaction=fine, actor=staff, reason="r")
    assert excinfo.value.code == ErrorCode.INVALID_TRANSITION
    early = paid(listing=ListingFactory(seller=SellerFactory(stripe_connect_id=onboarded_account())))
    moderate(early.seller, "banned")
    with pytest.raises(ServiceError) as excinfo:
        transaction_release_held_payout(transaction=early, actor=staff, reason="r")
    assert excinfo.value.code == ErrorCode.NOT_DUE
    no_account = paid()
    Transaction.objects.filter(pk=no_account.pk).update(escrow_release_date=timezone.now())
    moderate(no_account.seller, "suspended")
    with pytest.raises(ServiceError) as excinfo:
        transaction_release_held_payout(transaction=reload(no_account), actor=staff, reason="r")
    assert excinfo.value.code == ErrorCode.NOT_CONNECTED
    assert not LedgerEntry.objects.filter(kind=K.TRANSFER).exists()


def test_staff_release_from_the_order_page(client):
    txn = due("banned")
    url = reverse("payments:order_release_held_payout", args=[txn.pk])
    client.force_login(txn.buyer)
    assert client.post(url, {"reason": "x"}).status_code == 404
    client.force_login(staff_with())
    assert client.post(url, {"reason": "x"}).status_code == 403
    client.force_login(staff_with("release_held_payout"))
    client.post(url, {"reason": ""})
    assert reload(txn).status == S.PROCESSING
    assert client.post(url, {"reason": "Reviewed: legitimate sale"}).status_code == 302
    assert reload(txn).status == S.COMPLETED


def test_staff_release_from_the_admin_action(client):
    txn, fine = due("banned"), due()
    changelist = reverse("admin:payments_transaction_changelist")
    client.force_login(staff_with("view_transaction"))
    assert b"release_held_payouts" not in client.get(changelist).content  # no permission, no action
    client.force_login(staff_with("view_transaction", "release_held_payout"))
    assert b"release_held_payouts" in client.get(changelist).content
    action = {"action": "release_held_payouts", "_selected_action": [str(txn.pk), str(fine.pk)]}
    page = client.post(changelist, action)
    assert page.status_code == 200 and b'name="reason"' in page.content
    response = client.post(changelist, {**action, "apply": "yes", "reason": "Reviewed"}, follow=True)
    body = response.content.decode()
    assert "Released 1 held payout(s)." in body
    assert f"Purchase {str(fine.pk)[:8]}: This payout is not held" in body
    assert reload(txn).status == S.COMPLETED and transfers(txn) == 1
    assert reload(fine).status == S.PROCESSING and transfers(fine) == 0  # not touched here


@pytest.mark.usefixtures("localstripe")
def test_staff_refund_a_held_payout_through_the_refund_flow():
    txn = due("banned", make=paid_at_stripe)
    staff = staff_with("refund_transaction")
    refund_issue(
        transaction=txn, amount_cents=txn.total_cents, actor=staff, request_key="held", reason="Seller banned"
    )
    stored = reload(txn)
    assert stored.status == S.REFUNDED and transfers(txn) == 0
    assert order_capabilities(staff, stored).payout_hold_reason == ""  # nothing held any more
    assert "Released 0; held for staff (seller not in good standing) 0;" in run("release_escrow")


def test_the_banned_status_is_read_under_lock_at_release():
    """A ban committed after the run listed the row but before it took the lock is seen."""
    txn = due()
    moderate(reload(txn).seller, "banned")
    assert reload(txn).seller.account_status == AccountStatus.BANNED
    assert transaction_release_due(transaction=txn) == "held"
