"""One sale, one number per figure: the order page, the sales page, the seller's emails and
``manage.py reconcile`` show the same paid-out, refunded and owed amounts (``payments.ledger``)."""

import re
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from payments.gateway import PaymentRefused, SimulatedConnectGateway
from payments.ledger import PAID_OUT, REFUNDED, SELLER_DEBT, ledger_totals, transaction_figures
from payments.models import LedgerEntry, Transaction
from tests.jobs import run_jobs
from tests.payments.purchase_helpers import paid_at_stripe, release, reload, staff_with

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("localstripe")]

K = LedgerEntry.Kind
PRICE = 10_000  # $100.00: fee 10 %, payout $90.00
REFUND = 2_000  # $20.00 after release; Stripe refuses to pull it back: the seller owes it


def data_of(body: str, attribute: str) -> list[str]:
    """The text of every element carrying ``attribute`` (the amounts are marked with data-*)."""
    return [
        re.sub(r"<[^>]+>", "", text).strip() for text in re.findall(rf"<[^>]*{attribute}[^>]*>(.*?)</", body)
    ]


@pytest.fixture
def sale(client, monkeypatch, django_capture_on_commit_callbacks) -> Transaction:
    """Sold, released, then refunded in part from the order page with the reversal refused:
    the seller's own refund is refused (nothing changes), staff refund anyway with a reason
    and book what the seller owes."""
    with django_capture_on_commit_callbacks(execute=True):
        txn = release(paid_at_stripe(price_cents=PRICE))

    def refuse(self, **kwargs):
        raise PaymentRefused("Insufficient funds in the connected account.", param="amount")

    monkeypatch.setattr(SimulatedConnectGateway, "create_transfer_reversal", refuse)
    url = reverse("payments:order_refund", args=[txn.pk])
    client.force_login(txn.seller)
    response = client.post(url, {"amount": "20.00", "request_key": "one-number"})
    assert response.status_code == 302
    assert (
        LedgerEntry.objects.filter(transaction=txn)
        .exclude(kind__in=[K.CHARGE, K.PLATFORM_FEE, K.TRANSFER])
        .count()
        == 0
    )
    client.force_login(staff_with("refund_transaction"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {
                "amount": "20.00",
                "request_key": "one-number-staff",
                "reason": "Item lost",
                "book_seller_debt": "yes",
            },
        )
    assert response.status_code == 302
    client.force_login(txn.seller)
    return reload(txn)


def test_the_ledger_holds_one_debt_and_no_reversal(sale):
    totals = ledger_totals(sale)
    assert (totals[K.TRANSFER], totals[K.TRANSFER_REVERSAL], totals[K.SELLER_DEBT]) == (9_000, 0, REFUND)
    figures = transaction_figures(sale)
    assert (figures.paid_out, figures.refunded, figures.seller_debt) == (9_000, REFUND, REFUND)
    assert figures.reversal_due == 0  # claimed as a debt: nothing more to pull back


def test_order_page_sales_page_emails_and_reconcile_agree(sale, client):
    paid_out, refunded, owed = "$90.00", "$20.00", "$20.00"

    order = client.get(reverse("payments:order", args=[sale.pk])).content.decode()
    assert data_of(order, "data-paid-out")[0].startswith(paid_out)
    assert data_of(order, "data-refunded") == [refunded]
    assert data_of(order, "data-owed") == [owed]

    response = client.get("/sell/sales/")
    body = response.content.decode()
    [row] = response.context["page"].sales
    assert (row.paid_out_cents, row.refunded_cents, row.owed_cents) == (9_000, REFUND, REFUND)
    [usd] = response.context["summary"]
    assert (usd.paid_out_cents, usd.refunded_cents, usd.owed_cents) == (9_000, REFUND, REFUND)
    assert [text.split("Owed")[0] for text in data_of(body, "data-paid-out")] == [paid_out, paid_out]
    assert data_of(body, "data-owed") == [f"Owed by you: {owed}", f"Owed by you: {owed}"]
    assert data_of(body, "data-refunded") == [refunded, refunded]

    run_jobs()  # the emails are sent by their jobs
    to_seller = {
        message.subject: message.body for message in mail.outbox if message.to == [sale.seller.email]
    }
    payout = next(body for subject, body in to_seller.items() if subject.startswith("Your payout"))
    assert f"Transferred to your account: {paid_out}." in payout
    refund = next(body for subject, body in to_seller.items() if "was refunded to the buyer" in subject)
    assert f"You were already paid {paid_out} for this sale, so {refunded} in all is taken back" in refund
    assert f"Stripe could not take {owed} back from your account" in refund

    out = StringIO()
    call_command("reconcile", stdout=out)
    report = out.getvalue()
    assert f"paid out {9_000}, platform fees {1_000}, refunded {REFUND}" in report
    assert f"Sellers owe {REFUND} (minor units) on 1 transactions" in report
    assert "Every transaction reconciles" in report


def test_each_figure_is_the_same_in_python_the_orm_and_sql(sale):
    from django.db import connection

    totals = ledger_totals(sale)
    for figure in (PAID_OUT, REFUNDED, SELLER_DEBT):
        annotated = Transaction.objects.annotate(value=figure.subquery()).get(pk=sale.pk).value
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {figure.sql('e')} FROM payments_ledgerentry AS e WHERE e.transaction_id = %s",  # noqa: S608
                [sale.pk],
            )
            [(raw,)] = cursor.fetchall()
        assert figure.of(totals) == annotated == raw, figure.name
