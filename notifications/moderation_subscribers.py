"""Notifications for staff moderation: the seller hears of a take-down, a restore, an approval
or a declined approval (with the reason staff gave), a reporter of the outcome of their report.

Connected by one import in ``NotificationsConfig.ready()``. Each subscriber re-reads what it
needs (the hooks pass ids) and keys the notification by the event, so a replayed hook
notifies once. A take-down is keyed by its time: the same listing taken down again after a
restore is a new event.
"""

from django.urls import reverse

from listings import hooks as listing_hooks
from listings.models import Listing
from moderation import hooks as moderation_hooks
from moderation.models import Report, ReportStatus
from notifications.models import NotificationType
from notifications.services import notify


def _seller_notify(listing_id, *, type: NotificationType, title: str, message: str, key: str) -> None:
    listing = Listing.objects.select_related("seller").filter(pk=listing_id).first()
    if listing is None:
        return
    notify(
        user=listing.seller,
        type=type,
        title=title.format(title=listing.title),
        message=message,
        link=reverse("sell:dashboard"),
        metadata={"listing_id": str(listing.pk)},
        key=key.format(id=listing.pk, at=(listing.taken_down_at or listing.updated_at).isoformat()),
    )


@listing_hooks.listing_taken_down.subscribe
def listing_taken_down(listing_id, reason: str) -> None:
    _seller_notify(
        listing_id,
        type=NotificationType.LISTING_TAKEN_DOWN,
        title="Your listing “{title}” was taken down",
        message=f"Our team took it off the site. Reason: {reason}",
        key="listing_taken_down:{id}:{at}",
    )


@listing_hooks.listing_restored.subscribe
def listing_restored(listing_id, reason: str) -> None:
    _seller_notify(
        listing_id,
        type=NotificationType.LISTING_RESTORED,
        title="Your listing “{title}” is back",
        message=f"Our team restored it. {reason}",
        key="listing_restored:{id}:{at}",
    )


@listing_hooks.listing_approved.subscribe
def listing_approved(listing_id, reason: str) -> None:
    _seller_notify(
        listing_id,
        type=NotificationType.LISTING_APPROVED,
        title="Your listing “{title}” was approved",
        message="It is live now.",
        key="listing_approved:{id}:{at}",
    )


@listing_hooks.listing_declined.subscribe
def listing_declined(listing_id, reason: str) -> None:
    _seller_notify(
        listing_id,
        type=NotificationType.LISTING_DECLINED,
        title="Your listing “{title}” was not approved",
        message=f"Reason: {reason} Edit it and publish again.",
        key="listing_declined:{id}:{at}",
    )


@moderation_hooks.reports_resolved.subscribe
def reports_resolved(report_ids) -> None:
    for report in Report.objects.filter(pk__in=report_ids).select_related("reporter"):
        acted = report.status == ReportStatus.ACTION_TAKEN
        notify(
            user=report.reporter,
            type=NotificationType.REPORT_RESOLVED,
            title="Thank you for your report",
            message=(
                "Our team looked at what you reported and took action."
                if acted
                else "Our team looked at what you reported and found it within our rules."
            ),
            key=f"report_resolved:{report.pk}",
        )
