"""Following sellers (feed, alerts of their new listings) and price drops of favorites."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus
from alerts.models import Follow, Watermark
from alerts.services import MATCH_WATERMARK, follow_seller, match_new_listings, unfollow_seller
from listings.services import listing_update
from marketplace.errors import ErrorCode, ServiceError
from notifications.models import Notification
from tests.factories import FavoriteFactory, ListingFactory, SellerFactory, UserFactory
from tests.jobs import queued_jobs, run_jobs

pytestmark = pytest.mark.django_db


def test_follow_rules():
    seller, fan = SellerFactory(), UserFactory()
    follow_seller(follower=fan, seller=seller)
    follow_seller(follower=fan, seller=seller, alert=True)  # idempotent; sets the alert
    assert list(Follow.objects.values_list("alert", flat=True)) == [True]
    with pytest.raises(ServiceError) as excinfo:
        follow_seller(follower=fan, seller=fan)
    assert excinfo.value.code == ErrorCode.INVALID
    with pytest.raises(ServiceError):
        follow_seller(follower=fan, seller=SellerFactory(account_status=AccountStatus.BANNED))
    unfollow_seller(follower=fan, seller=seller)
    assert not Follow.objects.exists()


def test_feed_shows_followed_sellers_listings_newest_first_in_keyset_pages(client):
    seller, other, fan = SellerFactory(), SellerFactory(), UserFactory()
    follow_seller(follower=fan, seller=seller)
    now = timezone.now()
    mine = [
        ListingFactory(seller=seller, title=f"Item {n}", published_at=now - timedelta(minutes=n))
        for n in range(30)
    ]
    ListingFactory(seller=other, title="Not followed")
    ListingFactory(seller=seller, title="A draft", status="draft", published_at=None)
    client.force_login(fan)
    first = client.get(reverse("alerts:following"))
    page = first.context["page"]
    assert [listing.title for listing in page.rows] == [listing.title for listing in mine[:24]]
    second = client.get(reverse("alerts:following"), {"cursor": page.next_cursor})
    assert [listing.title for listing in second.context["page"].rows] == [
        listing.title for listing in mine[24:]
    ]
    assert "Not followed" not in first.content.decode()


def test_feed_query_count_does_not_grow(client, django_assert_max_num_queries):
    seller, fan = SellerFactory(), UserFactory()
    follow_seller(follower=fan, seller=seller)
    client.force_login(fan)
    for count in (1, 20):
        for _ in range(count):
            ListingFactory(seller=seller)
        with django_assert_max_num_queries(8):
            assert client.get(reverse("alerts:following")).status_code == 200


def test_followers_with_alerts_hear_of_new_listings_once(django_capture_on_commit_callbacks):
    seller, loud, quiet = SellerFactory(), UserFactory(), UserFactory()
    follow_seller(follower=loud, seller=seller, alert=True)
    follow_seller(follower=quiet, seller=seller, alert=False)
    Watermark.objects.create(name=MATCH_WATERMARK, at=timezone.now() - timedelta(minutes=1))
    ListingFactory(seller=seller, title="Fresh chair", published_at=timezone.now())
    for _ in range(2):
        match_new_listings()
        with django_capture_on_commit_callbacks(execute=True):
            run_jobs()
    [note] = Notification.objects.filter(user=loud)
    assert note.type == "followed_seller_listing" and "Fresh chair" in note.title
    assert not Notification.objects.filter(user=quiet).exists()


def _drop(listing, price, capture):
    with capture(execute=True):
        listing_update(listing=listing, actor=listing.seller, data={"price_cents": price})


def test_a_price_drop_tells_each_favoriter_once(django_capture_on_commit_callbacks):
    listing = ListingFactory(price_cents=10_000)
    fans = [FavoriteFactory(listing=listing).user for _ in range(3)]
    _drop(listing, 8_000, django_capture_on_commit_callbacks)
    assert len(queued_jobs("alerts.price_drop")) == 1
    assert run_jobs() >= 1
    for fan in fans:
        [note] = Notification.objects.filter(user=fan, type="price_drop")
        assert "$80.00" in note.message and "$100.00" in note.message
    # A retried job tells nobody twice.
    from alerts.services import price_drop_notify

    job = queued_jobs("alerts.price_drop", status="succeeded")[0]
    price_drop_notify(**{key: value for key, value in job.items() if not key.startswith("_")})
    assert Notification.objects.filter(type="price_drop").count() == 3
    # A second drop is a new notice; a rise is none.
    _drop(listing, 7_000, django_capture_on_commit_callbacks)
    run_jobs()
    assert Notification.objects.filter(type="price_drop").count() == 6
    _drop(listing, 9_000, django_capture_on_commit_callbacks)
    assert queued_jobs("alerts.price_drop") == []
    # A drop undone before its job ran is not told (the job reads the price it finds).
    _drop(listing, 5_000, django_capture_on_commit_callbacks)
    _drop(listing, 9_500, django_capture_on_commit_callbacks)
    run_jobs()
    assert Notification.objects.filter(type="price_drop").count() == 6
    assert not Notification.objects.filter(user=listing.seller).exists()
