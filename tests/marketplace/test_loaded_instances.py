"""``loaded_instances`` makes what ``Model.from_db`` makes (the ORM's ``.only()``), without
``Model.__init__`` per row when nothing can tell the difference."""

import pytest
from django.db import connection
from django.db.models.signals import post_init

from listings.models import Listing
from listings.search.query import CARD_COLUMNS
from marketplace.db import loaded_instances
from tests.factories import ListingFactory

pytestmark = pytest.mark.django_db


def _rows(listing):
    columns = ", ".join(f'"{name}"' for name in CARD_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM listings_listing WHERE id = %s", [listing.pk])  # noqa: S608
        return cursor.fetchall()


def test_instances_are_those_of_from_db():
    listing = ListingFactory(title="Walnut desk", price_cents=12_500)
    rows = _rows(listing)
    made = loaded_instances(Listing, CARD_COLUMNS, rows, "default")[0]
    reference = Listing.from_db("default", CARD_COLUMNS, rows[0])

    assert {k: v for k, v in vars(made).items() if k != "_state"} == {
        k: v for k, v in vars(reference).items() if k != "_state"
    }
    assert made.get_deferred_fields() == reference.get_deferred_fields()
    assert "description" in made.get_deferred_fields()
    assert (made._state.adding, made._state.db) == (False, "default")
    assert made == listing and made.title == "Walnut desk" and made.price_cents == 12_500
    # A deferred field is read on access; the instance saves like any loaded one.
    assert made.description == listing.description
    made.title = "Oak desk"
    made.save(update_fields=["title"])
    listing.refresh_from_db()
    assert listing.title == "Oak desk"


def test_with_a_post_init_receiver_the_model_init_runs():
    listing = ListingFactory()
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(receiver, sender=Listing)
    try:
        made = loaded_instances(Listing, CARD_COLUMNS, _rows(listing), "default")
    finally:
        post_init.disconnect(receiver, sender=Listing)
    assert seen == [listing.pk] and made[0].pk == listing.pk
