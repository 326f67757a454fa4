"""Reads for moderation: what a member is about to report."""

import uuid
from dataclasses import dataclass

from django.urls import reverse

from accounts.models import AccountStatus, User
from listings.models import Listing
from listings.selectors import listing_visible_to
from messaging.models import Message
from messaging.selectors import is_participant
from moderation.models import ReportTarget
from reviews.models import Review
from reviews.selectors import is_review_visible_to


@dataclass(frozen=True)
class ReportSubject:
    name: str  # what the report page names ("Vintage lamp", "sam@...")
    back_url: str  # where the member goes after reporting


def report_subject(*, viewer, target_type: str, object_id) -> ReportSubject | None:
    """The object ``viewer`` may report, or None (unknown, or not visible to them: the page
    answers 404 exactly as for an unknown one). One or two queries."""
    try:
        pk = uuid.UUID(str(object_id))
    except ValueError:
        return None
    if target_type == ReportTarget.LISTING:
        listing = Listing.objects.select_related("seller").filter(pk=pk).first()
        if listing and listing_visible_to(listing, viewer):
            return ReportSubject(listing.title, reverse("listings:detail", args=[listing.slug]))
    elif target_type == ReportTarget.USER:
        user = User.objects.filter(pk=pk).exclude(account_status=AccountStatus.BANNED).first()
        if user:
            name = user.seller_display_name or user.first_name or "this member"
            return ReportSubject(name, reverse("accounts:profile", args=[user.pk]))
    elif target_type == ReportTarget.REVIEW:
        review = Review.objects.filter(pk=pk).first()
        if review and is_review_visible_to(review, viewer):
            return ReportSubject(
                review.title or "this review", reverse("accounts:profile", args=[review.reviewee_id])
            )
    elif target_type == ReportTarget.MESSAGE:
        message = Message.objects.select_related("conversation").filter(pk=pk).first()
        if message and is_participant(message.conversation, viewer):
            return ReportSubject(
                "this message", reverse("messaging:conversation", args=[message.conversation_id])
            )
    return None
