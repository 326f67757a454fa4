"""The listing lifecycle as data: which status moves exist, what the owner may still change,
which buttons the owner sees, and the words of every refusal.

Pure: no queries and no imports of the listings services or selectors, so services,
selectors, photos and the capability predicate can all ask it (``listing.status`` and
``listing.published_at`` are all it reads).
"""

from dataclasses import dataclass

from listings.models import Listing, ListingStatus
from marketplace.errors import ErrorCode, ServiceError


# Every status change of a listing is one of these moves; anything else is refused here.
# ``owner`` moves are the seller's buttons; the others belong to the purchase flow (a live
# transaction reserves the listing, a cancellation releases it, escrow release sells it).
@dataclass(frozen=True)
class ListingTransition:
    sources: frozenset[str]
    target: str | None  # None: the row is deleted
    verb: str  # "This listing cannot be <verb>"
    owner: bool = True


LISTING_TRANSITIONS: dict[str, ListingTransition] = {
    "publish": ListingTransition(frozenset({ListingStatus.DRAFT}), ListingStatus.ACTIVE, "published"),
    "unpublish": ListingTransition(
        frozenset({ListingStatus.ACTIVE, ListingStatus.PENDING}), ListingStatus.DRAFT, "unpublished"
    ),
    "mark_sold": ListingTransition(frozenset({ListingStatus.ACTIVE}), ListingStatus.SOLD, "marked as sold"),
    "archive": ListingTransition(
        frozenset({ListingStatus.DRAFT, ListingStatus.ACTIVE, ListingStatus.PENDING}),
        ListingStatus.ARCHIVED,
        "archived",
    ),
    # Only a draft is deleted; an active listing asked to be deleted is archived instead.
    "delete": ListingTransition(frozenset({ListingStatus.DRAFT, ListingStatus.ACTIVE}), None, "deleted"),
    "reserve": ListingTransition(
        frozenset({ListingStatus.ACTIVE}), ListingStatus.RESERVED, "reserved", owner=False
    ),
    "release": ListingTransition(
        frozenset({ListingStatus.RESERVED}), ListingStatus.ACTIVE, "released", owner=False
    ),
    "complete_sale": ListingTransition(
        frozenset({ListingStatus.RESERVED}), ListingStatus.SOLD, "sold", owner=False
    ),
    # Approval (LISTING_APPROVAL_REQUIRED): publishing submits, staff approve or decline, and an
    # edit of what buyers judge (title, description, price, photos) sends it back to the queue.
    "submit": ListingTransition(
        frozenset({ListingStatus.DRAFT}), ListingStatus.PENDING, "published", owner=False
    ),
    "approve": ListingTransition(
        frozenset({ListingStatus.PENDING}), ListingStatus.ACTIVE, "approved", owner=False
    ),
    "decline": ListingTransition(
        frozenset({ListingStatus.PENDING}), ListingStatus.DRAFT, "declined", owner=False
    ),
    "resubmit": ListingTransition(
        frozenset({ListingStatus.ACTIVE}), ListingStatus.PENDING, "sent for approval", owner=False
    ),
    # Staff moderation. A reserved listing is what a buyer is paying for: settle the purchase
    # first. Restoring brings a taken-down listing back (only those: ``taken_down_at``).
    "take_down": ListingTransition(
        frozenset({ListingStatus.DRAFT, ListingStatus.ACTIVE, ListingStatus.PENDING}),
        ListingStatus.ARCHIVED,
        "taken down",
        owner=False,
    ),
    "restore": ListingTransition(
        frozenset({ListingStatus.ARCHIVED}), ListingStatus.ACTIVE, "restored", owner=False
    ),
}
# What the owner may still change: a reserved listing is what a buyer is paying for, and a
# sold or archived one is a record.
LISTING_EDITABLE_STATUSES = frozenset({ListingStatus.DRAFT, ListingStatus.ACTIVE, ListingStatus.PENDING})
# Statuses a visitor may see: reserved and sold stay visible, marked as such.
PUBLISHED_STATUSES = (ListingStatus.ACTIVE, ListingStatus.RESERVED, ListingStatus.SOLD)

# Why a status refuses a change; ``{what}`` is "it" for the listing, "its photos" for its photos.
STATUS_REFUSALS = {
    ListingStatus.DRAFT: "This listing is a draft, so {what} cannot be {verb} before it is published.",
    ListingStatus.RESERVED: "A purchase of this listing is in progress, so {what} cannot be {verb} now.",
    ListingStatus.SOLD: "This listing is sold, so {what} can no longer be {verb}.",
    ListingStatus.ARCHIVED: "This listing is archived, so {what} can no longer be {verb}.",
}
ALREADY_THERE = {
    "publish": "This listing is already published.",
    "unpublish": "This listing is not published.",
    "mark_sold": "This listing is already marked as sold.",
    "archive": "This listing is already archived.",
    "delete": "Only drafts can be deleted. This listing is archived already: it is off the site "
    "and kept in your records.",
    "submit": "This listing is already waiting for approval.",
    "approve": "This listing is already approved and live.",
    "take_down": "This listing is already off the site (archived).",
    "restore": "This listing is already live.",
}


def listing_transition_check(listing: Listing, action: str) -> ListingTransition:
    """The transition ``action`` from the listing's status, or ``ServiceError`` (code
    ``invalid_transition``) saying why not."""
    transition = LISTING_TRANSITIONS[action]
    if listing.status in transition.sources:
        return transition
    already_there = listing.status == transition.target and action in ALREADY_THERE
    if already_there or (action == "delete" and listing.status == ListingStatus.ARCHIVED):
        raise ServiceError(ALREADY_THERE[action], code=ErrorCode.INVALID_TRANSITION)
    refusal = STATUS_REFUSALS.get(listing.status)
    if refusal is None:
        allowed = " or ".join(sorted(ListingStatus(status).label.lower() for status in transition.sources))
        current = ListingStatus(listing.status).label.lower()
        refusal = f"Only {allowed} listings can be {{verb}}; this one is {current}."
    raise ServiceError(refusal.format(what="it", verb=transition.verb), code=ErrorCode.INVALID_TRANSITION)


def listing_is_editable(listing: Listing) -> bool:
    return listing.status in LISTING_EDITABLE_STATUSES


def listing_edit_refusal(listing: Listing, *, what: str = "it", verb: str = "edited") -> str | None:
    """Why the owner cannot change the listing (or ``what`` of it) in its status, or None."""
    if listing_is_editable(listing):
        return None
    return STATUS_REFUSALS[listing.status].format(what=what, verb=verb)


def listing_is_deletable(listing: Listing) -> bool:
    """A draft nobody outside could have seen: never published, so no links, favorites,
    conversations or transactions point at it."""
    return listing.status == ListingStatus.DRAFT and listing.published_at is None


def listing_owner_actions(listing: Listing) -> list[str]:
    """The lifecycle buttons the owner sees for the listing, in display order."""
    actions = [
        name for name, move in LISTING_TRANSITIONS.items() if move.owner and listing.status in move.sources
    ]
    # Deleting is offered where it deletes; elsewhere "archive" is the button.
    if "delete" in actions and not listing_is_deletable(listing):
        actions.remove("delete")
    return actions


def seller_listing_actions(listing: Listing) -> frozenset[str]:
    """The quick actions the dashboard shows for the seller's ``listing``: the lifecycle
    buttons the listing services allow from its status (publish, unpublish, mark_sold,
    archive, delete), edit and photos while the listing is editable, preview always."""
    actions = {"preview", *listing_owner_actions(listing)}
    if listing_is_editable(listing):
        actions.update({"edit", "photos"})
    return frozenset(actions)
