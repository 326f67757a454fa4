"""Staff moderate reviews in the admin through the service, with a required reason."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from reviews.models import Review, ReviewModeration
from tests.factories import ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:reviews_review_changelist"


@pytest.fixture
def staff_client(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    client.admin = admin
    return client


def post_action(client, action: str, reviews, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(r.pk) for r in reviews], **extra}
    return client.post(reverse(CHANGELIST), data)


def test_remove_asks_for_a_reason_then_records_it(staff_client):
    review = ReviewFactory(rating=2)
    page = post_action(staff_client, "remove_reviews", [review])
    assert page.status_code == 200
    assert b"Reason" in page.content
    assert Review.objects.get(pk=review.pk).status == "active"

    missing = post_action(staff_client, "remove_reviews", [review], apply="yes", reason="  ")
    assert missing.status_code == 200
    assert Review.objects.get(pk=review.pk).status == "active"

    done = post_action(staff_client, "remove_reviews", [review], apply="yes", reason="Spam link")
    assert done.status_code == 302
    assert Review.objects.get(pk=review.pk).status == "removed"
    decision = ReviewModeration.objects.get(review=review)
    admin_id = staff_client.admin.pk
    assert (decision.action, decision.reason, decision.actor_id) == ("remove", "Spam link", admin_id)
    review.reviewee.refresh_from_db()
    assert review.reviewee.seller_rating_count == 0


def test_feature_then_unfeature(staff_client):
    review = ReviewFactory()
    post_action(staff_client, "feature_reviews", [review], apply="yes", reason="Helpful")
    assert Review.objects.get(pk=review.pk).is_featured
    post_action(staff_client, "unfeature_reviews", [review], apply="yes", reason="Stale")
    assert not Review.objects.get(pk=review.pk).is_featured


def test_reviews_cannot_be_edited_or_deleted_in_the_admin(staff_client):
    review = ReviewFactory(rating=2, title="Original")
    url = reverse("admin:reviews_review_change", args=[review.pk])
    staff_client.post(url, {"rating": "5", "title": "Changed", "status": "removed"})
    review.refresh_from_db()
    assert (review.rating, review.title, review.status) == (2, "Original", "active")
    assert staff_client.get(reverse("admin:reviews_review_delete", args=[review.pk])).status_code == 403
