"""Staff moderation of listings: take down and restore, approve and decline.

Every function takes the acting staff member and a required reason, checks the action's own
permission (``listings.moderate_listing``, ``listings.approve_listing``), locks the listing row
(``SELECT ... FOR UPDATE``), moves it through ``listings.lifecycle``, stores the reason the
seller sees on their dashboard (``moderation_reason``), appends one audit row, and, after
commit, retires the cached page and announces the hook (the seller is notified from there).
Search reads status fresh from the database, so an archived listing leaves results at once.
"""

from django.db import transaction
from django.utils import timezone

from accounts.services import clean_staff_reason, ensure_staff_permission
from listings import hooks
from listings.lifecycle import listing_transition_check
from listings.models import Listing, ListingStatus
from listings.services import listing_changed, seller_changed
from marketplace.audit import audit_record
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit

MODERATE_PERMISSION = "listings.moderate_listing"
APPROVE_PERMISSION = "listings.approve_listing"


def _lock(listing: Listing) -> Listing:
    locked = Listing.objects.select_for_update().defer("search_vector").filter(pk=listing.pk).first()
    if locked is None:
        raise ServiceError("No such listing.", code=ErrorCode.NOT_FOUND)
    return locked


def _move(*, listing: Listing, actor, reason: str, action: str, permission: str, what: str, hook, changes):
    """``changes(locked, reason)`` -> the fields to set besides the lifecycle's target status
    (a "status" key overrides it), decided on the locked row."""
    ensure_staff_permission(actor, permission, what)
    reason = clean_staff_reason(reason)
    with transaction.atomic():
        locked = _lock(listing)
        transition = listing_transition_check(locked, action)
        changes = changes(locked, reason)
        target = changes.pop("status", transition.target)
        before = {"status": locked.status, **{field: getattr(locked, field) for field in changes}}
        locked.status = target
        for field, value in changes.items():
            setattr(locked, field, value)
        fields = ["status", *changes]
        locked.save(update_fields=fields)
        audit_record(
            actor=actor,
            action=f"listings.{action}",
            target=locked,
            reason=reason,
            changes={field: (before[field], getattr(locked, field)) for field in fields},
        )
        listing_changed(locked.pk)
        seller_changed(locked.seller_id)
        after_commit(hook, locked.pk, reason)
    return locked


def listing_take_down(*, listing: Listing, actor, reason: str) -> Listing:
    """Take a draft, active or pending listing off the site (archived, ``taken_down_at`` set);
    the seller sees ``reason`` on their dashboard and is notified. A reserved listing (a
    purchase in progress) is refused: settle the purchase first."""
    return _move(
        listing=listing,
        actor=actor,
        reason=reason,
        action="take_down",
        permission=MODERATE_PERMISSION,
        what="take down listings",
        hook=hooks.listing_taken_down,
        changes=lambda locked, reason: {"taken_down_at": timezone.now(), "moderation_reason": reason},
    )


def listing_restore(*, listing: Listing, actor, reason: str) -> Listing:
    """Put a taken-down listing back: active if it had been published, else a draft. Only
    listings staff took down (an archive by the seller is theirs to keep)."""

    def changes(locked: Listing, reason: str) -> dict:
        if locked.taken_down_at is None:
            raise ServiceError(
                "Only a listing staff took down can be restored; this one was archived by its seller.",
                code=ErrorCode.INVALID_TRANSITION,
            )
        status = ListingStatus.ACTIVE if locked.published_at else ListingStatus.DRAFT
        return {"status": status, "taken_down_at": None, "moderation_reason": ""}

    return _move(
        listing=listing,
        actor=actor,
        reason=reason,
        action="restore",
        permission=MODERATE_PERMISSION,
        what="restore listings",
        hook=hooks.listing_restored,
        changes=changes,
    )


def listing_approve(*, listing: Listing, actor, reason: str = "Approved.") -> Listing:
    """Pending -> active (``published_at`` set on the first approval)."""
    return _move(
        listing=listing,
        actor=actor,
        reason=reason,
        action="approve",
        permission=APPROVE_PERMISSION,
        what="approve listings",
        hook=hooks.listing_approved,
        changes=lambda locked, reason: {
            "published_at": locked.published_at or timezone.now(),
            "moderation_reason": "",
        },
    )


def listing_decline(*, listing: Listing, actor, reason: str) -> Listing:
    """Pending -> draft, with the reason the seller sees; they may edit and publish again."""
    return _move(
        listing=listing,
        actor=actor,
        reason=reason,
        action="decline",
        permission=APPROVE_PERMISSION,
        what="decline listings",
        hook=hooks.listing_declined,
        changes=lambda locked, reason: {"moderation_reason": reason},
    )
