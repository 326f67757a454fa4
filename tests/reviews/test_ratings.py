"""Ratings count only published, active reviews by members who are not banned, exactly, through
every transition (submit, edit, publication, flag, removal, restore, delete, ban, reinstatement),
for seller and buyer ratings, each detailed rating and the star distribution; then
``repair_counters`` finds drift injected behind the triggers' back and repairs it."""

import random
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection

from accounts.models import AccountStatus, User
from accounts.services import user_ban, user_reinstate, user_suspend
from marketplace import counters
from reviews import services
from reviews.models import Review
from tests.factories import UserFactory
from tests.reviews.conftest import completed_purchase

pytestmark = pytest.mark.django_db

DETAILS = ("communication", "quality", "delivery")


def expected(user: User) -> dict:
    """The user's ratings recomputed in Python from the reviews that count."""
    counting = [
        review
        for review in Review.objects.filter(reviewee=user).select_related("reviewer")
        if review.status == "active"
        and review.published_at is not None
        and review.reviewer.account_status != AccountStatus.BANNED
    ]
    result = {}
    for role, reviewer_type in (("seller", "buyer"), ("buyer", "seller")):
        mine = [review for review in counting if review.reviewer_type == reviewer_type]
        total = sum(review.rating for review in mine)
        result[f"{role}_rating_sum"] = total
        result[f"{role}_rating_count"] = len(mine)
        result[f"{role}_rating"] = (
            (Decimal(total) / len(mine)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) if mine else None
        )
        result[f"{role}_rating_distribution"] = [sum(1 for r in mine if r.rating == n) for n in range(1, 6)]
        for detail in DETAILS:
            values = [
                getattr(r, f"rating_{detail}") for r in mine if getattr(r, f"rating_{detail}") is not None
            ]
            result[f"{role}_{detail}_sum"] = sum(values)
            result[f"{role}_{detail}_count"] = len(values)
    return result


def stored(user: User) -> dict:
    return User.objects.filter(pk=user.pk).values(*expected(user)).get()


def assert_exact(*users: User) -> None:
    for user in users:
        assert stored(user) == expected(user), user.email
    assert counters.repair_user_ratings(dry_run=True) == 0


@pytest.fixture
def moderator():
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_review"))
    return User.objects.get(pk=staff.pk)


def test_every_transition_keeps_seller_buyer_and_detailed_ratings_exact(moderator):
    seller, buyer = UserFactory(is_seller=True), UserFactory()
    txn = completed_purchase(listing__seller=seller, buyer=buyer)

    by_buyer = services.review_submit(
        transaction=txn, author=buyer, rating=2, rating_communication=3, rating_delivery=1
    )
    assert stored(seller)["seller_rating_count"] == 0  # hidden: not counted yet
    assert_exact(seller, buyer)

    services.review_edit(review=by_buyer, author=buyer, rating=4, rating_communication=5, rating_quality=2)
    assert_exact(seller, buyer)

    services.review_submit(transaction=txn, author=seller, rating=5, rating_communication=4)  # publishes both
    ratings = stored(seller)
    assert (ratings["seller_rating"], ratings["seller_rating_count"]) == (Decimal("4.00"), 1)
    assert ratings["seller_rating_distribution"] == [0, 0, 0, 1, 0]
    assert (ratings["seller_communication_sum"], ratings["seller_communication_count"]) == (5, 1)
    assert (ratings["seller_quality_count"], ratings["seller_delivery_count"]) == (1, 0)
    assert stored(buyer)["buyer_rating"] == Decimal("5.00")
    assert stored(buyer)["buyer_communication_sum"] == 4
    assert_exact(seller, buyer)

    # Flags: still visible, still counted.
    services.review_flag(review=by_buyer, member=UserFactory(), reason="fake")
    assert stored(seller)["seller_rating_count"] == 1
    assert_exact(seller, buyer)

    services.review_moderate(review=by_buyer, actor=moderator, action="remove", reason="Fake")
    assert stored(seller)["seller_rating_count"] == 0
    assert stored(seller)["seller_rating"] is None
    assert_exact(seller, buyer)

    services.review_moderate(review=by_buyer, actor=moderator, action="restore", reason="Real")
    assert stored(seller)["seller_rating_count"] == 1
    assert_exact(seller, buyer)

    # A second sale, then a ban of that buyer and a reinstatement.
    other_buyer = UserFactory()
    second = completed_purchase(listing__seller=seller, buyer=other_buyer)
    services.review_submit(transaction=second, author=other_buyer, rating=1, rating_delivery=2)
    services.review_submit(transaction=second, author=seller, rating=3)
    assert stored(seller)["seller_rating"] == Decimal("2.50")
    assert_exact(seller, other_buyer)

    user_ban(user=other_buyer, actor=UserFactory(is_superuser=True, is_staff=True), reason="Fraud")
    assert stored(seller)["seller_rating"] == Decimal("4.00")
    assert stored(seller)["seller_delivery_count"] == 0
    assert stored(other_buyer)["buyer_rating"] == Decimal("3.00")  # reviews *of* the banned stay
    assert_exact(seller, other_buyer)

    user_reinstate(user=other_buyer, actor=UserFactory(is_superuser=True, is_staff=True), reason="Appeal")
    assert stored(seller)["seller_rating"] == Decimal("2.50")
    assert_exact(seller, other_buyer)

    # Suspension is not a ban: the reviews keep counting.
    user_suspend(user=other_buyer, actor=UserFactory(is_superuser=True, is_staff=True), reason="Check")
    assert stored(seller)["seller_rating"] == Decimal("2.50")
    assert_exact(seller, other_buyer)

    Review.objects.filter(transaction=second, reviewer=other_buyer).delete()
    assert stored(seller)["seller_rating"] == Decimal("4.00")
    assert_exact(seller, buyer, other_buyer)


def test_a_ban_while_unpublished_then_publication_does_not_count():
    seller, buyer = UserFactory(), UserFactory()
    txn = completed_purchase(listing__seller=seller, buyer=buyer)
    services.review_submit(transaction=txn, author=buyer, rating=1)
    User.objects.filter(pk=buyer.pk).update(account_status=AccountStatus.BANNED)
    services.reviews_publish_due(now=Review.objects.get().window_closes_at)
    assert stored(seller)["seller_rating_count"] == 0
    User.objects.filter(pk=buyer.pk).update(account_status=AccountStatus.ACTIVE)
    assert stored(seller)["seller_rating"] == Decimal("1.00")
    assert_exact(seller)


def test_a_random_walk_through_every_transition_stays_exact(moderator):
    rng = random.Random(20261130)
    users = [UserFactory() for _ in range(4)]
    admin = UserFactory(is_staff=True, is_superuser=True)
    reviews: list[Review] = []
    for step in range(80):
        action = rng.choice(["submit", "submit", "publish", "moderate", "ban", "edit", "delete", "flag"])
        try:
            if action == "submit" or not reviews:
                buyer, seller = rng.sample(users, 2)
                txn = completed_purchase(listing__seller=seller, buyer=buyer)
                for author in rng.sample([buyer, seller], rng.randint(1, 2)):
                    reviews.append(
                        services.review_submit(
                            transaction=txn,
                            author=User.objects.get(pk=author.pk),
                            rating=rng.randint(1, 5),
                            **{f"rating_{d}": rng.choice([None, 1, 2, 3, 4, 5]) for d in DETAILS},
                        )
                    )
            elif action == "publish":
                Review.objects.filter(published_at__isnull=True, pk=rng.choice(reviews).pk).update(
                    published_at="2026-01-01T00:00:00Z"
                )
            elif action == "moderate":
                review = rng.choice(reviews)
                services.review_moderate(
                    review=review, actor=moderator, action=rng.choice(["remove", "restore"]), reason="r"
                )
            elif action == "ban":
                user = User.objects.get(pk=rng.choice(users).pk)
                if user.account_status == AccountStatus.BANNED:
                    user_reinstate(user=user, actor=admin, reason="r")
                else:
                    user_ban(user=user, actor=admin, reason="r")
            elif action == "edit":
                review = rng.choice(reviews)
                Review.objects.filter(pk=review.pk).update(
                    rating=rng.randint(1, 5), rating_quality=rng.choice([None, 1, 5])
                )
            elif action == "delete":
                reviews.pop(rng.randrange(len(reviews))).delete()
            elif action == "flag":
                services.review_flag(review=rng.choice(reviews), member=UserFactory(), reason="spam")
        except services.ServiceError:
            pass  # a refused step changes nothing; the ratings must still be exact
        for user in users:
            assert stored(user) == expected(user), f"after step {step} ({action})"


def repair_output(*args) -> str:
    out = StringIO()
    call_command("repair_counters", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    "corruption",
    [
        "UPDATE accounts_user SET seller_rating_sum = seller_rating_sum + 3 WHERE seller_rating_count > 0",
        "UPDATE accounts_user SET seller_rating_distribution[5] = 7 WHERE seller_rating_count > 0",
        "UPDATE accounts_user SET seller_quality_count = seller_quality_count + 1"
        " WHERE seller_rating_count > 0",
        "UPDATE accounts_user SET buyer_communication_sum = 99 WHERE buyer_rating_count > 0",
        "UPDATE accounts_user SET buyer_delivery_count = 1",
        # Writes that bypass the triggers (as a restore or a bulk load would).
        "SET LOCAL session_replication_role = replica;"
        " UPDATE accounts_user SET account_status = 'banned' WHERE buyer_rating_count > 0;"
        " SET LOCAL session_replication_role = DEFAULT",
        "SET LOCAL session_replication_role = replica;"
        " UPDATE reviews_review SET published_at = NULL;"
        " SET LOCAL session_replication_role = DEFAULT",
    ],
)
def test_repair_counters_finds_and_fixes_injected_drift(corruption):
    seller, buyer = UserFactory(), UserFactory()
    txn = completed_purchase(listing__seller=seller, buyer=buyer)
    services.review_submit(transaction=txn, author=buyer, rating=4, rating_quality=3, rating_communication=5)
    services.review_submit(
        transaction=txn, author=seller, rating=2, rating_communication=1, rating_delivery=4
    )
    assert_exact(seller, buyer)

    with connection.cursor() as cursor:
        cursor.execute(corruption)
    assert counters.repair_user_ratings(dry_run=True) > 0
    assert "rows wrong, fixed" in repair_output()
    assert counters.repair_user_ratings(dry_run=True) == 0
    for user in (seller, buyer):
        assert stored(user) == expected(user)
