"""The worker's schedule: every periodic job is registered with its cron and runs the same
function as its ops command (payments' sweeps: tests/payments/test_tasks.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from procrastinate.contrib.django import app

from analytics.partitions import existing_partitions
from listings.models import Listing
from listings.view_counts import listing_view_record
from reviews.models import Review
from tests.factories import ListingFactory
from tests.jobs import queued_jobs, run_jobs
from tests.reviews.conftest import completed_purchase

SCHEDULE = {
    "payments.release_escrow": "*/10 * * * *",
    "payments.expire_checkouts": "* * * * *",
    "listings.flush_view_counts": "* * * * *",
    "analytics.partitions": "17 3 * * *",
    "reviews.publish_due_reviews": "*/5 * * * *",
}


def test_every_periodic_job_is_scheduled_with_a_queueing_lock():
    app.perform_import_paths()
    scheduled = {periodic.task.name: periodic for periodic in app.periodic_registry.periodic_tasks.values()}
    for name, cron in SCHEDULE.items():
        assert scheduled[name].cron == cron, name
        assert scheduled[name].task.queueing_lock == name, name  # at most one run waiting


@pytest.mark.django_db
def test_the_review_job_publishes_reviews_whose_window_closed():
    txn = completed_purchase(days_ago=20)
    review = Review.objects.create(
        transaction=txn,
        listing=txn.listing,
        reviewer=txn.buyer,
        reviewee=txn.seller,
        reviewer_type="buyer",
        rating=4,
        window_closes_at=timezone.now() - timedelta(days=1),
    )
    app.tasks["reviews.publish_due_reviews"].defer(timestamp=0)
    assert run_jobs() == 1
    review.refresh_from_db()
    assert review.published_at is not None


@pytest.mark.django_db
def test_the_partitions_job_creates_the_coming_months(settings):
    settings.EVENTS_PARTITIONS_AHEAD = 2
    app.tasks["analytics.partitions"].defer(timestamp=0)
    assert run_jobs() == 1
    assert len(queued_jobs("analytics.partitions", status="succeeded")) == 1
    assert len(existing_partitions()) >= 3  # this month and the next two


@pytest.mark.django_db(transaction=True)  # the flush refuses to run inside a transaction
def test_the_view_count_job_flushes_the_counted_views():
    listing = ListingFactory()
    for _ in range(3):
        listing_view_record(listing.pk)
    app.tasks["listings.flush_view_counts"].defer(timestamp=0)
    assert run_jobs() == 1
    assert Listing.objects.values_list("view_count", flat=True).get(pk=listing.pk) == 3
    assert len(queued_jobs("listings.flush_view_counts", status="succeeded")) == 1
