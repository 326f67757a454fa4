"""The listings triggers: updated_at, the weighted search vector and favorite_count."""

import threading
from datetime import datetime

import pytest
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from listings.models import Favorite, Listing
from tests.factories import ConversationFactory, FavoriteFactory, ListingFactory, UserFactory

pytestmark = pytest.mark.django_db

OLD = datetime.fromisoformat("2001-01-01T00:00:00+00:00")


def assert_stamped_during_this_transaction(value) -> None:
    """Set by the database within the test's transaction (now() or statement_timestamp())."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now(), clock_timestamp()")
        started, current = cursor.fetchone()
    assert started <= value <= current


def favorite_count(listing: Listing) -> int:
    return Listing.objects.values_list("favorite_count", flat=True).get(pk=listing.pk)


def run_at_once(targets) -> list[BaseException]:
    """Run each callable in its own thread (own connection), released together by a barrier."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target):
        try:
            barrier.wait(timeout=10)
            target()
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


# updated_at


def test_updated_at_is_set_by_the_database_on_update():
    listing = ListingFactory(updated_at=OLD)
    assert Listing.objects.get(pk=listing.pk).updated_at == OLD

    Listing.objects.filter(pk=listing.pk).update(price_cents=500)

    assert_stamped_during_this_transaction(Listing.objects.get(pk=listing.pk).updated_at)


def test_updated_at_is_set_on_a_full_save_of_a_stale_instance():
    listing = ListingFactory(updated_at=OLD)
    listing.title = "Renamed"
    listing.save()
    assert_stamped_during_this_transaction(Listing.objects.get(pk=listing.pk).updated_at)


@pytest.mark.django_db(transaction=True)
def test_updated_at_moves_forward_across_transactions():
    listing = ListingFactory()
    created = Listing.objects.get(pk=listing.pk).updated_at

    Listing.objects.filter(pk=listing.pk).update(price_cents=1)

    assert Listing.objects.get(pk=listing.pk).updated_at > created


# search_vector


def ranked(query: str, **filters):
    search = SearchQuery(query, search_type="websearch", config="english")
    return list(
        Listing.objects.filter(search_vector=search, **filters)
        .annotate(rank=SearchRank(F("search_vector"), search))
        .order_by("-rank")
    )


def matches(listing: Listing, query: str) -> bool:
    return Listing.objects.filter(
        pk=listing.pk, search_vector=SearchQuery(query, search_type="websearch", config="english")
    ).exists()


def test_the_search_vector_is_computed_on_insert():
    listing = ListingFactory(title="Walnut desk", description="Solid wood, two drawers.")
    assert matches(listing, "walnut")
    assert matches(listing, "drawer")  # stemmed, english configuration
    assert not matches(listing, "chair")


def test_title_outranks_description():
    in_description = ListingFactory(title="Office furniture", description="A desk made of walnut.")
    in_title = ListingFactory(title="Walnut desk", description="Office furniture in good shape.")
    ListingFactory(title="Oak chair", description="Nothing to see.")

    assert ranked("walnut") == [in_title, in_description]
    assert ranked("walnut")[0].rank > ranked("walnut")[1].rank


def test_weights_are_title_a_description_b_attributes_c():
    listing = ListingFactory(
        title="Lamp", description="Brass finish", attributes={"condition": "Refurbished", "width": 12}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ts_filter(search_vector, '{a}')::text, ts_filter(search_vector, '{b}')::text,"
            " ts_filter(search_vector, '{c}')::text FROM listings_listing WHERE id = %s",
            [listing.pk],
        )
        weight_a, weight_b, weight_c = cursor.fetchone()
    assert weight_a == "'lamp':1A"
    assert "'brass'" in weight_b and "'finish'" in weight_b
    assert "refurbish" in weight_c
    assert "12" not in weight_c  # numbers are filtered by range, not searched as words


@pytest.mark.parametrize(
    ("change", "old_word", "new_word"),
    [
        ({"title": "Teak bookshelf"}, "walnut", "teak"),
        ({"description": "Made of mahogany."}, "maple", "mahogany"),
        ({"attributes": {"condition": "Refurbished"}}, "pristine", "refurbished"),
    ],
)
def test_the_search_vector_follows_title_description_and_attributes(change, old_word, new_word):
    listing = ListingFactory(
        title="Walnut desk", description="Made of maple.", attributes={"condition": "Pristine"}
    )
    assert matches(listing, old_word)

    Listing.objects.filter(pk=listing.pk).update(**change)

    assert matches(listing, new_word)
    assert not matches(listing, old_word)


def test_the_search_vector_is_not_written_back_by_a_full_save():
    listing = ListingFactory(title="Walnut desk")
    assert listing.search_vector is None  # computed in the database; never read back here

    with CaptureQueriesContext(connection) as queries:
        listing.price_cents = 12_345
        listing.save()

    (update,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert '"search_vector"' not in update
    assert matches(listing, "walnut")


def test_the_search_vector_stays_when_other_columns_change():
    listing = ListingFactory(title="Walnut desk")
    Listing.objects.filter(pk=listing.pk).update(price_cents=1, status=Listing.Status.ARCHIVED)
    assert matches(listing, "walnut")


# favorite_count


def test_favorite_count_follows_inserts_and_deletes():
    listing, other = ListingFactory(), ListingFactory()
    favorites = [FavoriteFactory(listing=listing) for _ in range(3)]
    FavoriteFactory(listing=other)
    assert favorite_count(listing) == 3

    favorites[0].delete()
    assert favorite_count(listing) == 2

    Favorite.objects.filter(listing=listing).delete()
    assert favorite_count(listing) == 0
    assert favorite_count(other) == 1


def test_moving_a_favorite_to_another_listing():
    first, second = ListingFactory(), ListingFactory()
    favorite = FavoriteFactory(listing=first)

    Favorite.objects.filter(pk=favorite.pk).update(listing=second)

    assert (favorite_count(first), favorite_count(second)) == (0, 1)


def test_favorite_count_with_a_bulk_insert():
    listing = ListingFactory()
    Favorite.objects.bulk_create([Favorite(user=UserFactory(), listing=listing) for _ in range(5)])
    assert favorite_count(listing) == 5


def test_a_favorite_refused_as_a_duplicate_does_not_count():
    favorite = FavoriteFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Favorite.objects.create(user=favorite.user, listing=favorite.listing)
    assert favorite_count(favorite.listing) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_favorites_and_unfavorites_are_all_counted():
    listing = ListingFactory()
    users = [UserFactory() for _ in range(10)]

    def favorite(user):
        return lambda: Favorite.objects.create(user=user, listing=listing)

    assert run_at_once([favorite(user) for user in users]) == []
    assert Favorite.objects.filter(listing=listing).count() == 10
    assert favorite_count(listing) == 10

    def unfavorite(user):
        return lambda: Favorite.objects.filter(user=user, listing=listing).delete()

    assert run_at_once([unfavorite(user) for user in users]) == []
    assert favorite_count(listing) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_favorites_in_longer_transactions_are_all_counted():
    """Each writer also changes other rows in its transaction, as a service would."""
    listing = ListingFactory()
    users = [UserFactory() for _ in range(8)]

    def favorite(user):
        def run():
            with transaction.atomic():
                Favorite.objects.create(user=user, listing=listing)
                user.first_name = "Fan"
                user.save(update_fields=["first_name"])

        return run

    assert run_at_once([favorite(user) for user in users]) == []
    assert favorite_count(listing) == 8


# TriggerManagedFieldsMixin


def test_a_full_save_of_a_stale_listing_keeps_the_counters():
    listing = ListingFactory()
    stale = Listing.objects.get(pk=listing.pk)

    FavoriteFactory(listing=listing)
    FavoriteFactory(listing=listing)
    ConversationFactory(listing=listing)
    Listing.objects.filter(pk=listing.pk).update(view_count=F("view_count") + 7)

    stale.title = "New title"
    stale.save()

    fresh = Listing.objects.get(pk=listing.pk)
    assert fresh.title == "New title"
    assert (fresh.favorite_count, fresh.inquiry_count, fresh.view_count) == (2, 1, 7)
    assert matches(fresh, "new title")
