"""The money ledger is append-only: the database refuses UPDATE, DELETE and TRUNCATE."""

import pytest
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction

from payments.models import LedgerEntry
from tests.factories import LedgerEntryFactory

pytestmark = pytest.mark.django_db

# The trigger raises insufficient_privilege (SQLSTATE 42501), which Django maps to ProgrammingError.
REFUSED = (ProgrammingError, InternalError)


def refused(sql: str, params=None) -> str:
    with pytest.raises(REFUSED) as excinfo, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(excinfo.value)


def test_update_is_refused_by_the_database():
    entry = LedgerEntryFactory()
    message = refused("UPDATE payments_ledgerentry SET amount_cents = 1 WHERE id = %s", [entry.pk])
    assert "append-only" in message
    assert LedgerEntry.objects.get(pk=entry.pk).amount_cents == entry.amount_cents


def test_orm_update_and_delete_are_refused_too():
    entry = LedgerEntryFactory()
    with pytest.raises(REFUSED), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(external_id="ch_changed")
    with pytest.raises(REFUSED), transaction.atomic():
        entry.delete()
    assert LedgerEntry.objects.filter(pk=entry.pk, external_id="").exists()


def test_delete_is_refused_by_the_database():
    entry = LedgerEntryFactory()
    assert "DELETE" in refused("DELETE FROM payments_ledgerentry WHERE id = %s", [entry.pk])
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_truncate_of_a_table_with_rows_is_refused():
    entry = LedgerEntryFactory()
    with connection.cursor() as cursor:  # run the deferred FK checks of the insert first
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert "TRUNCATE" in refused("TRUNCATE payments_ledgerentry")
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_truncate_of_the_empty_table_is_allowed():
    """Django's test flush truncates every table; an empty ledger loses nothing."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE payments_ledgerentry")


def test_inserts_are_allowed_and_corrections_are_new_rows():
    entry = LedgerEntryFactory()
    LedgerEntryFactory(transaction=entry.transaction, kind=LedgerEntry.Kind.REFUND, amount_cents=1)
    assert entry.transaction.ledger_entries.count() == 2


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"amount_cents": 0}, "payments_ledgerentry_amount_positive"),
        ({"amount_cents": -5}, "payments_ledgerentry_amount_positive"),
        ({"kind": "gift"}, "payments_ledgerentry_kind_valid"),
        ({"currency": "usd"}, "payments_ledgerentry_currency_iso4217"),
    ],
)
def test_checks_refuse_bad_rows(fields, constraint):
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        LedgerEntryFactory(**fields)
    assert excinfo.value.__cause__.diag.constraint_name == constraint


def test_a_stripe_object_is_booked_once_per_kind():
    entry = LedgerEntryFactory(external_id="ch_once")
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntryFactory(transaction=entry.transaction, external_id="ch_once")
    # Rows without a Stripe object (fees) may repeat.
    LedgerEntryFactory(transaction=entry.transaction, kind=LedgerEntry.Kind.PLATFORM_FEE, amount_cents=1)
    LedgerEntryFactory(transaction=entry.transaction, kind=LedgerEntry.Kind.PLATFORM_FEE, amount_cents=1)
