"""The review-window reminder: a party who has not reviewed a purchase yet is told, once, when
its review window closes within ``REVIEW_REMINDER_HOURS``. Run by the periodic job
``notifications.remind_review_window``; safe to run twice at once (``notify``'s key
``review_window_closing:<transaction id>`` makes the second delivery a no-op)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import DateTimeField, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Least
from django.urls import reverse
from django.utils import timezone

from notifications.models import NotificationType
from notifications.services import notify
from payments.models import Transaction
from reviews.models import Review
from reviews.selectors import REVIEWABLE_STATUSES, review_refusal, review_window_days


def remind_review_window(*, now: datetime | None = None) -> int:
    """Remind every party whose review window closes within ``REVIEW_REMINDER_HOURS``; returns
    how many reminders were new. Reads the due transactions in one query, then one per party."""
    now = now or timezone.now()
    window = timedelta(days=review_window_days())
    lead = timedelta(hours=settings.REVIEW_REMINDER_HOURS)
    confirmed = Cast(KeyTextTransform("receipt_confirmed_at", "metadata"), DateTimeField())
    due = (
        Transaction.objects.filter(status__in=REVIEWABLE_STATUSES)
        .filter(Q(completed_at__isnull=True) | Q(completed_at__gt=now - window))
        .annotate(reviewable_at=Least(confirmed, "completed_at"))
        .filter(reviewable_at__gt=now - window, reviewable_at__lte=now - window + lead)
        .select_related("listing", "buyer", "seller")
        .defer("listing__search_vector", "listing__description", "listing__attributes")
    )
    sent = 0
    for txn in due:
        deadline = txn.reviewable_at + window
        reviewed = set(Review.objects.filter(transaction_id=txn.pk).values_list("reviewer_id", flat=True))
        for party in (txn.buyer, txn.seller):
            if party.pk in reviewed or review_refusal(party, txn, deadline=deadline, now=now):
                continue
            title = txn.listing.title if txn.listing is not None else "your purchase"
            made = notify(
                user=party,
                type=NotificationType.REVIEW_WINDOW_CLOSING,
                title=f"Last chance to review {title}",
                message=f"The review window closes on {timezone.localtime(deadline):%d %b %Y, %H:%M}.",
                link=reverse("payments:order", args=[txn.pk]),
                metadata={"transaction_id": str(txn.pk), "deadline": deadline.isoformat()},
                key=f"review_window_closing:{txn.pk}",
            )
            sent += made is not None
    return sent
