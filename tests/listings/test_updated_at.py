"""A view, a favorite or an inquiry is not an edit: counters leave updated_at alone."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from listings.models import Listing
from tests.factories import FavoriteFactory, ListingFactory

pytestmark = pytest.mark.django_db


def aged_listing() -> tuple[Listing, object]:
    listing = ListingFactory()
    old = timezone.now() - timedelta(days=3)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks before ALTER TABLE
        cursor.execute("ALTER TABLE listings_listing DISABLE TRIGGER listings_listing_updated_at")
        cursor.execute("UPDATE listings_listing SET updated_at = %s WHERE id = %s", [old, listing.id])
        cursor.execute("ALTER TABLE listings_listing ENABLE TRIGGER listings_listing_updated_at")
    return listing, old


@pytest.mark.parametrize("column", ["view_count", "favorite_count", "inquiry_count"])
def test_counter_updates_keep_updated_at(column):
    listing, old = aged_listing()
    Listing.objects.filter(pk=listing.pk).update(**{column: 7})
    listing.refresh_from_db()
    assert listing.updated_at == old


def test_favorite_trigger_keeps_updated_at():
    listing, old = aged_listing()
    FavoriteFactory(listing=listing)
    listing.refresh_from_db()
    assert (listing.favorite_count, listing.updated_at) == (1, old)


def test_an_edit_moves_updated_at_even_with_a_counter():
    listing, old = aged_listing()
    Listing.objects.filter(pk=listing.pk).update(view_count=3, title="New title")
    listing.refresh_from_db()
    assert listing.updated_at > old
