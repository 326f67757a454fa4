"""What a viewer may do with a listing: one predicate for the listing page, its preview, the
template, and the purchase service.

``listing_capabilities`` answers for a page (buy, contact, favorite, edit, staff notice);
``listing_purchase_refusal`` is the buying rule itself, which the purchase service enforces
(``payments.services.purchase._ensure_buyable``) on the locked row and the page asks on the
row it shows, so the button is offered exactly where the purchase would be accepted.

Pure: reads only the listing, its loaded seller and the viewer (no queries).
"""

import copy
from dataclasses import dataclass, replace

from django.contrib.auth.models import AnonymousUser

from accounts.models import AccountStatus
from accounts.services import ensure_can_buy, ensure_can_transact
from listings.lifecycle import listing_is_editable
from listings.models import Listing, ListingStatus, ListingVisibility, PricingType
from listings.selectors import listing_is_public
from marketplace.errors import ErrorCode, ServiceError
from marketplace.money import below_minimum_charge, format_amount, minimum_charge_cents

OWN_LISTING_MESSAGE = "You cannot buy your own listing."
UNAVAILABLE_MESSAGE = "This listing is not available."
RESERVED_MESSAGE = "This item has just been reserved by another buyer."
SOLD_MESSAGE = "This item has already been sold."
NOT_FIXED_PRICE_MESSAGE = "This listing has no fixed price: contact the seller."
NOT_NEGOTIABLE_MESSAGE = "The seller takes no offers on this listing: its price is fixed."
BELOW_MINIMUM_CHARGE_MESSAGE = (
    "This listing cannot be bought online: its price is below the smallest amount we can charge "
    "in {currency} ({minimum}). Contact the seller."
)

# Visibilities a buyer can reach (unlisted ones through their share link); a private
# listing is its owner's alone.
BUYER_REACHABLE_VISIBILITIES = (ListingVisibility.PUBLIC, ListingVisibility.UNLISTED)
# A buyer may write to the seller while the listing is for sale or a purchase is under way.
CONTACTABLE_STATUSES = (ListingStatus.ACTIVE, ListingStatus.RESERVED)
# Refusals about the viewer's own account, worth telling them on the page.
ACCOUNT_CODES = frozenset({ErrorCode.ACCOUNT_SUSPENDED, ErrorCode.ACCOUNT_BANNED, ErrorCode.EMAIL_UNVERIFIED})
# Refusals the page states next to where the Buy button would be.
BUY_NOTICE_CODES = ACCOUNT_CODES | {ErrorCode.BELOW_MINIMUM_CHARGE}


@dataclass(frozen=True)
class Refusal:
    """Why an action is refused: the ``ServiceError`` a service raises for it."""

    code: ErrorCode
    message: str

    def error(self) -> ServiceError:
        return ServiceError(self.message, code=self.code)


def _account_refusal(user) -> Refusal | None:
    try:
        ensure_can_transact(user)
    except ServiceError as error:
        return Refusal(error.code, error.message)
    return None


def _buyer_refusal(user) -> Refusal | None:
    try:
        ensure_can_buy(user)
    except ServiceError as error:
        return Refusal(error.code, error.message)
    return None


def _below_minimum_refusal(listing: Listing) -> Refusal:
    minimum = format_amount(minimum_charge_cents(listing.currency), listing.currency)
    return Refusal(
        ErrorCode.BELOW_MINIMUM_CHARGE,
        BELOW_MINIMUM_CHARGE_MESSAGE.format(currency=listing.currency, minimum=minimum),
    )


def _availability_refusal(listing: Listing, buyer) -> Refusal | None:
    """The part of the purchase rule that does not depend on the price: the buyer's account,
    their own listing, the listing reachable and active."""
    if buyer is not None and buyer.is_authenticated:
        refusal = _buyer_refusal(buyer)
        if refusal is not None:
            return refusal
        if listing.seller_id == buyer.pk:
            return Refusal(ErrorCode.OWN_LISTING, OWN_LISTING_MESSAGE)
    if listing.visibility not in BUYER_REACHABLE_VISIBILITIES:
        return Refusal(ErrorCode.NOT_FOUND, UNAVAILABLE_MESSAGE)
    if listing.status == ListingStatus.RESERVED:
        return Refusal(ErrorCode.RESERVED, RESERVED_MESSAGE)
    if listing.status == ListingStatus.SOLD:
        return Refusal(ErrorCode.SOLD, SOLD_MESSAGE)
    if listing.status != ListingStatus.ACTIVE:
        return Refusal(ErrorCode.NOT_FOUND, UNAVAILABLE_MESSAGE)
    return None


def _seller_refusal(listing: Listing) -> Refusal | None:
    if _account_refusal(listing.seller) is not None:
        return Refusal(ErrorCode.NOT_FOUND, UNAVAILABLE_MESSAGE)
    return None


def listing_purchase_refusal(
    listing: Listing, buyer=None, *, agreed_price_cents: int | None = None
) -> Refusal | None:
    """Why ``buyer`` cannot buy ``listing`` now, or None if they can (``listing.seller`` loaded).

    ``buyer`` None or anonymous checks the listing alone: a visitor is offered the button and
    asked to log in by the checkout. A signed-in buyer needs an account in good standing
    (``account_suspended`` / ``account_banned``) with a verified email (``email_unverified``:
    ``accounts.services.ensure_can_buy``) and someone else's listing (``own_listing``).
    The listing must be reachable (public or unlisted), active (``reserved``, ``sold``, else
    ``not_found``), fixed-price with a price (``not_fixed_price``) the payment provider can
    charge (``below_minimum_charge``: ``MINIMUM_CHARGE``), and its seller in good
    standing (``not_found``: a banned seller's listing does not exist for buyers). The first
    refusal in that order is returned.

    ``agreed_price_cents`` asks instead about buying at a price agreed with the seller (an
    accepted offer: ``offers``): the listing must then be negotiable (``not_negotiable``)
    and that price chargeable.
    """
    refusal = _availability_refusal(listing, buyer)
    if refusal is not None:
        return refusal
    if agreed_price_cents is not None:
        if listing.pricing_type != PricingType.NEGOTIABLE:
            return Refusal(ErrorCode.NOT_NEGOTIABLE, NOT_NEGOTIABLE_MESSAGE)
        if agreed_price_cents <= 0 or below_minimum_charge(agreed_price_cents, listing.currency):
            return _below_minimum_refusal(listing)
    elif listing.pricing_type != PricingType.FIXED or not listing.price_cents:
        return Refusal(ErrorCode.NOT_FIXED_PRICE, NOT_FIXED_PRICE_MESSAGE)
    elif below_minimum_charge(listing.price_cents, listing.currency):
        return _below_minimum_refusal(listing)
    return _seller_refusal(listing)


def listing_offer_refusal(listing: Listing, buyer=None) -> Refusal | None:
    """Why ``buyer`` cannot make an offer on ``listing`` now, or None (``listing.seller``
    loaded): the purchase rule, with a negotiable listing instead of a fixed price; the
    amount is checked when offered (``offers.services.offer_make``)."""
    refusal = _availability_refusal(listing, buyer)
    if refusal is not None:
        return refusal
    if listing.pricing_type != PricingType.NEGOTIABLE:
        return Refusal(ErrorCode.NOT_NEGOTIABLE, NOT_NEGOTIABLE_MESSAGE)
    return _seller_refusal(listing)


def ensure_listing_buyable(listing: Listing, buyer, *, agreed_price_cents: int | None = None) -> None:
    """``listing_purchase_refusal`` as the services use it: raise its ``ServiceError``."""
    refusal = listing_purchase_refusal(listing, buyer, agreed_price_cents=agreed_price_cents)
    if refusal is not None:
        raise refusal.error()


@dataclass(frozen=True)
class ListingCapabilities:
    """What the viewer of a listing page may do there.

    ``buy_refusal`` is why ``can_buy`` is false (None when it is true); ``staff_view`` marks
    a page only staff (and the owner) can see, for the moderation notice.
    """

    is_owner: bool
    can_edit: bool
    can_favorite: bool
    can_buy: bool
    can_contact: bool
    staff_view: bool
    buy_refusal: Refusal | None

    @property
    def account_notice(self) -> str | None:
        """The refusal to show a viewer whose own account stops them (suspended), else None."""
        if self.buy_refusal is not None and self.buy_refusal.code in ACCOUNT_CODES:
            return self.buy_refusal.message
        return None

    @property
    def buy_notice(self) -> str | None:
        """Why there is no Buy button, where the viewer should be told (their account, a
        price too small to charge), else None."""
        if self.buy_refusal is not None and self.buy_refusal.code in BUY_NOTICE_CODES:
            return self.buy_refusal.message
        return None


def listing_capabilities(viewer, listing: Listing, *, share_token: str | None = None) -> ListingCapabilities:
    """What ``viewer`` may do on the page of ``listing``, which they may see (checked before,
    by ``listing_for_viewer``; ``listing.seller`` loaded). ``share_token`` is the token of the
    unlisted URL the page was opened with, if any.

    The owner edits (while the status allows it) and does nothing else; others may buy where
    ``listing_purchase_refusal`` allows it, contact a seller in good standing about a
    reachable listing that is for sale or reserved (a signed-in viewer also needs an account
    in good standing), and favorite a listing anyone can reach at its public URL.
    """
    is_owner = bool(viewer.is_authenticated and viewer.pk == listing.seller_id)
    public = listing_is_public(listing)
    buy_refusal = listing_purchase_refusal(listing, viewer)
    can_contact = (
        not is_owner
        and listing.visibility in BUYER_REACHABLE_VISIBILITIES
        and listing.status in CONTACTABLE_STATUSES
        and listing.seller.account_status == AccountStatus.ACTIVE
        and (not viewer.is_authenticated or _account_refusal(viewer) is None)
    )
    return ListingCapabilities(
        is_owner=is_owner,
        can_edit=is_owner and listing_is_editable(listing),
        can_favorite=public and not is_owner,
        can_buy=buy_refusal is None,
        can_contact=can_contact,
        staff_view=bool(viewer.is_staff and not is_owner and not (public or share_token)),
        buy_refusal=buy_refusal,
    )


def listing_preview_capabilities(listing: Listing) -> ListingCapabilities:
    """The buttons buyers will get on the listing's page, for its owner's preview: the
    capabilities of a visitor on the listing as published (a draft counts as active).
    Favoriting is left out: nothing on a preview acts."""
    published = copy.copy(listing)
    if published.status == ListingStatus.DRAFT:
        published.status = ListingStatus.ACTIVE
    return replace(listing_capabilities(AnonymousUser(), published), can_favorite=False)
