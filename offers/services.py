"""Offers: make, counter, accept, decline, withdraw, expire.

Rules (issue "Beyond the anchors"): only on a negotiable listing, by a buyer who could buy it
(``listings.capabilities.listing_purchase_refusal`` with the offered price: verified email,
account in good standing, not their own listing, the listing active and reachable); at least
the payment provider's minimum charge in the listing's currency and at least the seller's
floor (never shown: a lower offer is refused in the same words as any too-low offer); one
live offer per buyer and listing (a partial unique index). The seller accepts, declines or
counters an open offer; the buyer accepts or declines a counter; either answer must come
before ``expires_at`` (``OFFER_EXPIRY_HOURS`` after the last move). The buyer may withdraw a
live offer.

Accepting opens the buyer's checkout at the agreed price (``payments.services.
transaction_start`` with ``price_cents``; the fee is taken on that price), which reserves the
listing; the other live offers on it are declined with a notice. Two accepts at once: the
listing's row lock orders them, the second finds it reserved and is refused; the partial
unique index "one accepted offer per listing" is the last line. A checkout that lapses
(cancelled or expired unpaid) lapses the offer and frees the listing (``offers.subscribers``).

Every move writes a notice into the buyer-seller conversation (``messaging.services.
message_post_notice``) in the same transaction, so the thread shows it live, and calls a hook
(``offers.hooks``) after commit. Amounts are minor units of the listing's currency.
Lock order: offer row, then (through ``transaction_start``) buyer, then listing.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from listings.capabilities import listing_offer_refusal
from listings.models import Listing
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.money import below_minimum_charge, format_amount, minimum_charge_cents
from marketplace.ratelimit import RateLimit
from messaging.services import conversation_open, message_post_notice
from offers import hooks
from offers.models import LIVE_STATUSES, Offer, OfferFloor, OfferStatus
from payments.services import transaction_start

Status = OfferStatus

NOT_FOUND_MESSAGE = "No such offer."
LIVE_OFFER_EXISTS_MESSAGE = (
    "You already have an offer on this listing waiting for an answer: withdraw it first to make another."
)
TOO_LOW_MESSAGE = "The seller will not consider an offer this low. Try a higher amount."
CLOSED_MESSAGE = "This offer is no longer open: it was answered, withdrawn or it expired."
EXPIRED_MESSAGE = "This offer expired before it was answered."
ANOTHER_ACCEPTED_MESSAGE = "The seller accepted another offer on this listing."
RESERVED_MESSAGE = "This listing was just reserved by another buyer: the offer cannot be accepted now."
BUYER_CANNOT_PAY_MESSAGE = (
    "The buyer cannot be given a checkout right now (too many unpaid checkouts, one they just "
    "abandoned, or their account). Try again later, or decline the offer."
)
# Refusals of the checkout that are about the buyer, not the listing.
BUYER_SIDE_CODES = frozenset(
    {
        ErrorCode.TOO_MANY_CHECKOUTS,
        ErrorCode.COOLING_OFF,
        ErrorCode.RATE_LIMITED,
        ErrorCode.EMAIL_UNVERIFIED,
        ErrorCode.ACCOUNT_SUSPENDED,
        ErrorCode.ACCOUNT_BANNED,
    }
)
COUNTER_NOT_ABOVE_MESSAGE = "A counter-offer must be higher than the buyer's offer (otherwise accept it)."


def _offers_limit() -> RateLimit:
    return RateLimit("offers-made", settings.OFFERS_PER_HOUR, 60 * 60)


def _money(cents: int, currency: str) -> str:
    return format_amount(cents, currency)


def _expiry(now: datetime) -> datetime:
    return now + timedelta(hours=settings.OFFER_EXPIRY_HOURS)


def _clean_amount(amount_cents, listing: Listing, *, floor: bool) -> int:
    """``amount_cents`` as an int at least the minimum charge (and the floor, for offers)."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise ServiceError("Enter an amount.", code=ErrorCode.INVALID)
    if amount_cents <= 0 or below_minimum_charge(amount_cents, listing.currency):
        minimum = _money(minimum_charge_cents(listing.currency), listing.currency)
        raise ServiceError(f"Offer at least {minimum}.", code=ErrorCode.BELOW_MINIMUM_CHARGE)
    if amount_cents > settings.OFFER_MAX_CENTS:
        raise ServiceError("That amount is too large.", code=ErrorCode.INVALID)
    if listing.price_cents and amount_cents > listing.price_cents:
        asking = _money(listing.price_cents, listing.currency)
        raise ServiceError(f"Offer at most the asking price ({asking}).", code=ErrorCode.INVALID)
    if floor:
        floors = OfferFloor.objects.filter(listing_id=listing.pk)
        seller_floor = floors.values_list("floor_cents", flat=True).first()
        if seller_floor is not None and amount_cents < seller_floor:
            raise ServiceError(TOO_LOW_MESSAGE, code=ErrorCode.OFFER_TOO_LOW)
    return amount_cents


def _notice(offer: Offer, *, actor, text: str) -> None:
    conversation, _ = conversation_open(buyer=offer.buyer, seller=offer.seller, listing=offer.listing)
    message_post_notice(conversation=conversation, actor=actor, body=text)


def _notice_if_reachable(offer: Offer, *, actor, text: str) -> None:
    """``_notice`` for a move the site makes itself (expiry, another offer accepted): a block
    or a banned party leaves the thread without the notice; the move stands and the hook
    still tells the other. A savepoint keeps the caller's transaction usable."""
    try:
        with transaction.atomic():
            _notice(offer, actor=actor, text=text)
    except ServiceError:
        pass


def offer_make(*, listing: Listing, buyer, amount_cents: int, now: datetime | None = None) -> Offer:
    """``buyer`` offers ``amount_cents`` (the listing's currency) on ``listing``.

    Refused: see the module docstring (codes ``not_negotiable``, ``own_listing``,
    ``email_unverified``, ``account_*``, ``reserved``, ``sold``, ``not_found``,
    ``below_minimum_charge``, ``offer_too_low``, ``invalid``), a live offer already there
    (``invalid``), more than ``OFFERS_PER_HOUR`` offers an hour (``rate_limited``), a block
    between the two (``blocked``). Writes the offer and a notice in the conversation.
    """
    now = now or timezone.now()
    if buyer is None or not buyer.is_authenticated:
        raise ServiceError("Log in to make an offer.", code=ErrorCode.LOGIN_REQUIRED)
    listing = Listing.objects.select_related("seller").defer("search_vector").get(pk=listing.pk)
    refusal = listing_offer_refusal(listing, buyer)
    if refusal is not None:
        raise refusal.error()
    amount_cents = _clean_amount(amount_cents, listing, floor=True)
    limit = _offers_limit()
    identity = str(buyer.pk)
    if limit.exceeded(identity):
        minutes = max(1, limit.retry_after() // 60)
        raise ServiceError(
            f"You have made many offers in the last hour: try again in {minutes} minutes.",
            code=ErrorCode.RATE_LIMITED,
        )
    try:
        with transaction.atomic():
            offer = Offer.objects.create(
                listing=listing,
                buyer=buyer,
                seller=listing.seller,
                amount_cents=amount_cents,
                currency=listing.currency,
                expires_at=_expiry(now),
            )
            _notice(offer, actor=buyer, text=f"Offered {_money(amount_cents, offer.currency)}.")
    except IntegrityError as error:
        constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
        if constraint == "offers_offer_one_live_per_buyer":
            raise ServiceError(LIVE_OFFER_EXISTS_MESSAGE, code=ErrorCode.INVALID) from error
        raise
    limit.hit(identity)
    after_commit(hooks.offer_made, offer)
    return offer


def _locked(offer: Offer) -> Offer:
    locked = (
        Offer.objects.select_for_update(of=("self",))
        .select_related("listing", "buyer", "seller")
        .filter(pk=offer.pk)
        .first()
    )
    if locked is None:
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
    return locked


def _ensure_party(offer: Offer, actor) -> None:
    """Only the buyer and the seller of an offer know it exists."""
    if actor is None or not actor.is_authenticated or actor.pk not in (offer.buyer_id, offer.seller_id):
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)


def _answering_party(offer: Offer) -> int:
    """Who must answer: the seller an open offer, the buyer a counter."""
    return offer.seller_id if offer.status == Status.OPEN else offer.buyer_id


def _ensure_live(offer: Offer, now: datetime) -> None:
    if offer.status not in LIVE_STATUSES:
        raise ServiceError(CLOSED_MESSAGE, code=ErrorCode.OFFER_CLOSED)
    if offer.expires_at <= now:
        raise ServiceError(EXPIRED_MESSAGE, code=ErrorCode.OFFER_CLOSED)


def _ensure_turn(offer: Offer, actor) -> None:
    if actor.pk != _answering_party(offer):
        waiting = "the seller" if offer.status == Status.OPEN else "the buyer"
        raise ServiceError(f"It is {waiting}'s turn to answer this offer.", code=ErrorCode.FORBIDDEN)


def offer_counter(*, offer: Offer, actor, amount_cents: int, now: datetime | None = None) -> Offer:
    """The seller answers an open offer with ``amount_cents`` (above the buyer's offer); the
    buyer then has ``OFFER_EXPIRY_HOURS`` to accept or decline. Locks the offer row.
    Refused: not a party (``not_found``), not the seller's turn (``forbidden``), no longer
    live (``offer_closed``), an amount at or below the offer or below the minimum
    (``invalid`` / ``below_minimum_charge``)."""
    now = now or timezone.now()
    _ensure_party(offer, actor)
    with transaction.atomic():
        locked = _locked(offer)
        _ensure_live(locked, now)
        if locked.status != Status.OPEN or actor.pk != locked.seller_id:
            raise ServiceError(
                "Only the seller counters an offer waiting for them.", code=ErrorCode.FORBIDDEN
            )
        amount_cents = _clean_amount(amount_cents, locked.listing, floor=False)
        if amount_cents <= locked.amount_cents:
            raise ServiceError(COUNTER_NOT_ABOVE_MESSAGE, code=ErrorCode.INVALID)
        locked.status = Status.COUNTERED
        locked.counter_cents = amount_cents
        locked.expires_at = _expiry(now)
        locked.save(update_fields=["status", "counter_cents", "expires_at", "updated_at"])
        _notice(locked, actor=actor, text=f"Countered with {_money(amount_cents, locked.currency)}.")
    after_commit(hooks.offer_countered, locked)
    return locked


def _decline_others(accepted: Offer) -> list[Offer]:
    """Decline the other live offers on the accepted offer's listing (rows other sessions
    hold are skipped: their own answer is refused by the reserved listing)."""
    others = list(
        Offer.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("listing", "buyer", "seller")
        .filter(listing_id=accepted.listing_id, status__in=LIVE_STATUSES)
        .exclude(pk=accepted.pk)
    )
    for other in others:
        other.status = Status.DECLINED
        other.decline_reason = ANOTHER_ACCEPTED_MESSAGE
        other.save(update_fields=["status", "decline_reason", "updated_at"])
        _notice_if_reachable(other, actor=other.seller, text=f"Offer declined: {ANOTHER_ACCEPTED_MESSAGE}")
    return others


def offer_accept(*, offer: Offer, actor, now: datetime | None = None) -> Offer:
    """The answering party accepts: the seller an open offer (at the buyer's amount), the
    buyer a counter (at the counter). Opens the buyer's checkout at that price for
    ``OFFER_CHECKOUT_HOURS`` (``payments.services.transaction_start``), which reserves the
    listing, and declines the other live offers on it. A second accept of the same offer by
    the same party returns it unchanged.

    Locks the offer row, then the buyer's and the listing's (``transaction_start``).
    Refused: not a party (``not_found``), not their turn (``forbidden``), no longer live or
    expired (``offer_closed``), the listing reserved meanwhile (``reserved``: another offer
    won, or someone bought it), and every purchase refusal of the buyer at that price.
    """
    now = now or timezone.now()
    _ensure_party(offer, actor)
    try:
        with transaction.atomic():
            locked = _locked(offer)
            if locked.status == Status.ACCEPTED and actor.pk in (locked.buyer_id, locked.seller_id):
                return locked
            _ensure_live(locked, now)
            _ensure_turn(locked, actor)
            agreed = locked.counter_cents if locked.status == Status.COUNTERED else locked.amount_cents
            checkout = transaction_start(
                listing=locked.listing,
                buyer=locked.buyer,
                idempotency_key=f"offer-{locked.pk}",
                price_cents=agreed,
                checkout_minutes=settings.OFFER_CHECKOUT_HOURS * 60,
            )
            locked.status = Status.ACCEPTED
            locked.agreed_cents = agreed
            locked.transaction = checkout
            locked.save(update_fields=["status", "agreed_cents", "transaction", "updated_at"])
            _notice(
                locked,
                actor=actor,
                text=f"Offer accepted at {_money(agreed, locked.currency)}: the buyer can pay at that price.",
            )
            declined = _decline_others(locked)
    except ServiceError as error:
        if error.code == ErrorCode.RESERVED:
            raise ServiceError(RESERVED_MESSAGE, code=ErrorCode.RESERVED) from error
        if error.code in BUYER_SIDE_CODES and actor.pk == offer.seller_id:
            # The refusal was written to the buyer ("your checkouts..."): tell the seller.
            raise ServiceError(BUYER_CANNOT_PAY_MESSAGE, code=error.code) from error
        raise
    except IntegrityError as error:
        constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
        if constraint in ("offers_offer_one_accepted", "payments_transaction_one_live_per_listing"):
            raise ServiceError(RESERVED_MESSAGE, code=ErrorCode.RESERVED) from error
        raise
    after_commit(hooks.offer_accepted, locked)
    for other in declined:
        after_commit(hooks.offer_declined, other, None)
    return locked


def offer_decline(*, offer: Offer, actor, reason: str = "", now: datetime | None = None) -> Offer:
    """The answering party declines (the seller an open offer, the buyer a counter), with an
    optional reason (at most 500 characters) shown to the other. Locks the offer row."""
    now = now or timezone.now()
    _ensure_party(offer, actor)
    reason = " ".join(str(reason or "").split())
    if len(reason) > 500:
        raise ServiceError("Keep the reason under 500 characters.", code=ErrorCode.INVALID)
    with transaction.atomic():
        locked = _locked(offer)
        _ensure_live(locked, now)
        _ensure_turn(locked, actor)
        locked.status = Status.DECLINED
        locked.decline_reason = reason
        locked.save(update_fields=["status", "decline_reason", "updated_at"])
        _notice(locked, actor=actor, text="Offer declined." + (f" {reason}" if reason else ""))
    after_commit(hooks.offer_declined, locked, actor)
    return locked


def offer_withdraw(*, offer: Offer, actor, now: datetime | None = None) -> Offer:
    """The buyer takes back a live offer (open or countered). Locks the offer row."""
    now = now or timezone.now()
    _ensure_party(offer, actor)
    with transaction.atomic():
        locked = _locked(offer)
        if actor.pk != locked.buyer_id:
            raise ServiceError("Only the buyer can withdraw an offer.", code=ErrorCode.FORBIDDEN)
        if locked.status not in LIVE_STATUSES:
            raise ServiceError(CLOSED_MESSAGE, code=ErrorCode.OFFER_CLOSED)
        locked.status = Status.WITHDRAWN
        locked.save(update_fields=["status", "updated_at"])
        _notice(locked, actor=actor, text="Offer withdrawn.")
    after_commit(hooks.offer_withdrawn, locked)
    return locked


def offers_expire_due(*, now: datetime | None = None, batch: int = 500) -> int:
    """Expire live offers past ``expires_at``; returns how many. For the periodic job: rows
    another session holds are skipped (SKIP LOCKED) and the deadline re-checked under the
    lock, so two runs at once expire each offer once."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            due = list(
                Offer.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("listing", "buyer", "seller")
                .filter(status__in=LIVE_STATUSES, expires_at__lte=now)
                .order_by("expires_at")[:batch]
            )
            for offer in due:
                offer.status = Status.EXPIRED
                offer.save(update_fields=["status", "updated_at"])
                _notice_if_reachable(offer, actor=offer.buyer, text="Offer expired: no answer in time.")
                after_commit(hooks.offer_expired, offer)
        expired += len(due)
        if len(due) < batch:
            return expired


def offer_checkout_closed(*, transaction_id, paid: bool) -> Offer | None:
    """The checkout an accepted offer opened was paid (``paid``) or cancelled / expired:
    the offer becomes ``paid`` or ``lapsed`` (payments already freed the listing). For
    ``offers.subscribers``; idempotent."""
    with transaction.atomic():
        offer = (
            Offer.objects.select_for_update()
            .filter(transaction_id=transaction_id, status=Status.ACCEPTED)
            .first()
        )
        if offer is None:
            return None
        offer.status = Status.PAID if paid else Status.LAPSED
        offer.save(update_fields=["status", "updated_at"])
        return offer


def offer_floor_set(*, listing: Listing, actor, floor_cents: int | None) -> None:
    """The seller sets (or with None clears) the lowest offer they will hear on ``listing``."""
    if actor is None or listing.seller_id != actor.pk:
        raise ServiceError("No such listing.", code=ErrorCode.NOT_FOUND)
    if floor_cents is None:
        OfferFloor.objects.filter(listing_id=listing.pk).delete()
        return
    if isinstance(floor_cents, bool) or not isinstance(floor_cents, int) or floor_cents <= 0:
        raise ServiceError("Enter an amount above zero, or leave it empty.", code=ErrorCode.INVALID)
    if floor_cents > settings.OFFER_MAX_CENTS:
        raise ServiceError("That amount is too large.", code=ErrorCode.INVALID)
    OfferFloor.objects.update_or_create(listing_id=listing.pk, defaults={"floor_cents": floor_cents})


LEFT_MESSAGE = "The seller closed their account."


def offers_close_for_member(*, member) -> int:
    """The member's account is being deleted (``privacy.services.account_delete``, in its
    transaction): their live offers are withdrawn and the live offers made to them declined
    with a reason the buyer sees (accepting one would start a checkout nobody can finish).
    No notices in the threads: the conversations show the member as deleted. Returns how many."""
    live = Offer.objects.select_for_update().filter(status__in=LIVE_STATUSES)
    withdrawn = live.filter(buyer_id=member.pk).update(status=Status.WITHDRAWN, updated_at=timezone.now())
    declined = live.filter(seller_id=member.pk).update(
        status=Status.DECLINED, decline_reason=LEFT_MESSAGE, updated_at=timezone.now()
    )
    return withdrawn + declined
