"""The review-window reminder: once per party who has not reviewed, only near the end."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Notification
from notifications.models import NotificationType as T
from notifications.reminders import remind_review_window
from notifications.tasks import remind_review_window_job
from reviews.services import review_submit
from tests.jobs import run_jobs
from tests.payments.purchase_helpers import paid, release

pytestmark = pytest.mark.django_db


@pytest.fixture
def completed(settings):
    settings.STRIPE_CONNECT_SIMULATED = True
    return release(paid())


def reminded(user) -> int:
    return Notification.objects.filter(user=user, type=T.REVIEW_WINDOW_CLOSING).count()


def test_reminds_each_party_once_near_the_end(completed, settings):
    txn = completed
    window = timedelta(days=settings.REVIEW_WINDOW_DAYS)
    assert remind_review_window(now=timezone.now()) == 0  # the window just opened
    near_end = timezone.now() + window - timedelta(hours=settings.REVIEW_REMINDER_HOURS - 1)
    assert remind_review_window(now=near_end) == 2
    assert remind_review_window(now=near_end) == 0  # a second run reminds nobody again
    assert reminded(txn.buyer) == 1 and reminded(txn.seller) == 1
    assert remind_review_window(now=timezone.now() + window + timedelta(hours=1)) == 0  # closed


def test_a_party_who_reviewed_is_not_reminded(completed, settings):
    txn = completed
    review_submit(transaction=txn, author=txn.buyer, rating=5)
    near_end = timezone.now() + timedelta(days=settings.REVIEW_WINDOW_DAYS, hours=-1)
    assert remind_review_window(now=near_end) == 1
    assert reminded(txn.buyer) == 0 and reminded(txn.seller) == 1


def test_the_periodic_job_runs_it(completed, settings):
    settings.REVIEW_REMINDER_HOURS = settings.REVIEW_WINDOW_DAYS * 24  # the whole window
    remind_review_window_job.defer(timestamp=0)
    run_jobs()
    assert reminded(completed.seller) == 1
