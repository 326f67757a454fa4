"""Buying: start a purchase (a pending transaction reserving the listing), and end an unpaid
one (the buyer cancels, or the checkout expires).

Every write here takes the row locks itself with ``locking.transaction_lock`` (listing, then
transaction; re-entrant, so a caller's atomic block that holds them may call it). Amounts are
minor units (cents); refusals are ``ServiceError`` with an ``ErrorCode``.
"""

import logging
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import ensure_can_buy
from listings.capabilities import (  # the messages are re-exported by payments.services
    RESERVED_MESSAGE,
    SOLD_MESSAGE,  # noqa: F401
    UNAVAILABLE_MESSAGE,
    ensure_listing_buyable,
)
from listings.models import Listing
from listings.services import listing_purchase_move
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.ratelimit import RateLimit
from payments import ledger
from payments.fees import platform_fee_cents
from payments.gateway import GatewayError, payment_gateway
from payments.models import Transaction, TransactionStatus
from payments.services.locking import NOT_FOUND_MESSAGE, transaction_lock
from payments.services.state import transaction_transition

logger = logging.getLogger(__name__)

Status = TransactionStatus


def _ensure_buyable(listing: Listing, buyer, agreed_price_cents: int | None = None) -> None:
    """The listing page's rule, asked of the locked row (``listing.seller`` loaded): the same
    predicate decides the "Buy now" button (``listings.capabilities``)."""
    ensure_listing_buyable(listing, buyer, agreed_price_cents=agreed_price_cents)


# Cancellations that start the buyer's cooling-off period on that listing (not a payment
# cancelled by Stripe, nor one staff cancelled).
COOLING_OFF_CANCELLED_BY = ("buyer", "expiry")


def _checkout_starts_limit() -> RateLimit:
    return RateLimit("checkout-starts", settings.CHECKOUT_STARTS_PER_HOUR, 60 * 60)


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def checkout_start_retry_after() -> int:
    """Seconds until the current window of ``CHECKOUT_STARTS_PER_HOUR`` ends (Retry-After)."""
    return _checkout_starts_limit().retry_after()


def checkout_start_limit_message(retry_after: int) -> str:
    return (
        f"You can start up to {settings.CHECKOUT_STARTS_PER_HOUR} checkouts an hour, and you have "
        f"reached that. Try again in {_minutes(retry_after)}; your open checkouts are in your orders."
    )


def _ensure_not_cooling_off(listing: Listing, buyer, now: datetime) -> None:
    """A buyer who cancelled a checkout of ``listing`` or let it expire waits
    ``CHECKOUT_COOLING_OFF_MINUTES`` before reserving it again, so cancel + Buy cannot renew a
    hold indefinitely. One query (index txn_buyer_created)."""
    cooling = timedelta(minutes=settings.CHECKOUT_COOLING_OFF_MINUTES)
    last = (
        Transaction.objects.filter(
            buyer_id=buyer.pk,
            listing_id=listing.pk,
            status=Status.CANCELLED,
            cancelled_at__gt=now - cooling,
            metadata__cancelled_by__in=COOLING_OFF_CANCELLED_BY,
        )
        .order_by("-cancelled_at")
        .values_list("cancelled_at", flat=True)
        .first()
    )
    if last is None:
        return
    until = last + cooling
    ended, at = (timezone.localtime(moment).strftime("%H:%M %Z") for moment in (last, until))
    raise ServiceError(
        f"Your checkout of this listing ended unpaid at {ended} (cancelled or expired), and it "
        "was released for other buyers. You can reserve it again at "
        f"{at} (in {_minutes((until - now).total_seconds())}).",
        code=ErrorCode.COOLING_OFF,
    )


def _ensure_open_checkouts_below_cap(buyer) -> None:
    """At most ``CHECKOUT_MAX_OPEN_PER_BUYER`` unpaid checkouts per buyer. The caller holds
    the buyer's row lock, so two Buy nows at once cannot both pass the count."""
    cap = settings.CHECKOUT_MAX_OPEN_PER_BUYER
    if Transaction.objects.filter(buyer_id=buyer.pk, status=Status.PENDING).count() >= cap:
        raise ServiceError(
            f"You already have {cap} unpaid checkout{'s' if cap != 1 else ''} open, the most "
            "one buyer may hold. Pay for one or cancel it (in your orders) before buying "
            "something else.",
            code=ErrorCode.TOO_MANY_CHECKOUTS,
        )


def checkout_key(*, listing: Listing, buyer) -> str:
    """The idempotency key of the buyer's open checkout of ``listing``: a double submit of Buy
    now (or a reload of the POST) finds the same transaction; after a cancellation or an
    expiry the next Buy is a new one. One query (the buyer's cancelled checkouts of it)."""
    closed = Transaction.objects.filter(
        listing_id=listing.pk, buyer_id=buyer.pk, status=Status.CANCELLED
    ).count()
    return f"checkout-{listing.pk}-{buyer.pk}-{closed}"


def transaction_start(
    *,
    listing: Listing,
    buyer,
    idempotency_key: str,
    price_cents: int | None = None,
    checkout_minutes: int | None = None,
) -> Transaction:
    """Start the purchase of ``listing`` by ``buyer``: a pending transaction and a reserved
    listing, in one atomic unit.

    Locks the buyer's row (FOR NO KEY UPDATE: a buyer's checkouts start one at a time, so
    the open-checkout cap holds under concurrency), then the listing row, checked active under
    the lock; the partial unique index "one live transaction per listing" is the last line of
    defence. ``idempotency_key`` (one per checkout form, sent again by a retried request)
    makes a retry return the transaction the first request created instead of a second one.

    Refusals beyond ``listing_purchase_refusal`` (which includes ``ensure_can_buy``, asked
    again of the locked buyer row): ``cooling_off`` (the buyer cancelled or let expire a
    checkout of this listing lately), ``too_many_checkouts`` (``CHECKOUT_MAX_OPEN_PER_BUYER``)
    and ``rate_limited`` (``CHECKOUT_STARTS_PER_HOUR``, Redis, counting checkouts started).

    ``price_cents`` is a price agreed with the seller (an accepted offer: ``offers``) instead
    of the listing's, in the listing's currency and at least its minimum charge
    (``below_minimum_charge``); the platform fee is taken on it. ``checkout_minutes`` gives
    such a checkout longer to be paid than ``CHECKOUT_EXPIRY_MINUTES`` (the buyer may not be
    online when the seller accepts); ``transaction_expire`` honours it.
    """
    ensure_can_buy(buyer)
    key = (idempotency_key or "").strip()
    if not key or len(key) > 255:
        raise ServiceError(
            "This request is missing its checkout key: reload the page.", code=ErrorCode.INVALID
        )
    bps = settings.PLATFORM_FEE_BPS
    try:
        with db_transaction.atomic():
            locked_buyer = User.objects.select_for_update(no_key=True).filter(pk=buyer.pk).first()
            if locked_buyer is None:
                raise ServiceError("Log in first.", code=ErrorCode.LOGIN_REQUIRED)
            locked = (
                Listing.objects.select_for_update(of=("self",))
                .select_related("seller")
                .defer("search_vector")
                .filter(pk=listing.pk)
                .first()
            )
            if locked is None:
                raise ServiceError(UNAVAILABLE_MESSAGE, code=ErrorCode.NOT_FOUND)
            existing = Transaction.objects.filter(buyer_id=buyer.pk, idempotency_key=key).first()
            if existing is not None:
                if existing.listing_id != locked.pk:
                    raise ServiceError(
                        "This checkout was for another listing: reload the page.", code=ErrorCode.INVALID
                    )
                return existing
            _ensure_buyable(locked, locked_buyer, price_cents)
            now = timezone.now()
            _ensure_not_cooling_off(locked, buyer, now)
            _ensure_open_checkouts_below_cap(buyer)
            limit = _checkout_starts_limit()
            if limit.hit(str(buyer.pk)) > limit.limit:
                raise ServiceError(
                    checkout_start_limit_message(limit.retry_after()), code=ErrorCode.RATE_LIMITED
                )
            subtotal = locked.price_cents if price_cents is None else price_cents
            fee = platform_fee_cents(subtotal, bps)
            extra = {} if checkout_minutes is None else {"checkout_minutes": int(checkout_minutes)}
            if price_cents is not None:
                extra["agreed_price_cents"] = price_cents
            with db_transaction.atomic():
                created = Transaction.objects.create(
                    listing=locked,
                    buyer=buyer,
                    seller_id=locked.seller_id,
                    subtotal_cents=subtotal,
                    platform_fee_cents=fee,
                    total_cents=subtotal,
                    seller_payout_cents=subtotal - fee,
                    currency=locked.currency,
                    status=Status.PENDING,
                    idempotency_key=key,
                    metadata={
                        "platform_fee_bps": bps,
                        "history": [{"status": Status.PENDING, "at": now.isoformat()}],
                        **extra,
                    },
                )
            listing_purchase_move(listing=locked, action="reserve")
            ledger.seller_money_changed(created)
            created.listing = locked
            return created
    except IntegrityError as error:
        constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
        if constraint == "payments_transaction_one_live_per_listing":
            raise ServiceError(RESERVED_MESSAGE, code=ErrorCode.RESERVED) from error
        raise


def _stop_payment(payment_intent_id: str) -> None:
    """Cancel the checkout's PaymentIntent at Stripe so it cannot succeed any more (a 3-D
    Secure step left open, a retry in another tab). Best effort: if it succeeds anyway (or
    did a moment ago), the ``payment_intent.succeeded`` webhook refunds it."""
    try:
        payment_gateway().cancel_payment_intent(payment_intent_id)
    except GatewayError as error:
        logger.info("payment intent %s not cancelled: %s", payment_intent_id, error)


def _after_cancel(transaction: Transaction) -> None:
    if transaction.payment_intent_id:
        after_commit(_stop_payment, transaction.payment_intent_id)


def transaction_cancel(*, transaction: Transaction, actor) -> Transaction:
    """The buyer abandons an unpaid checkout: pending -> cancelled, the listing active again."""
    if actor is None or transaction.buyer_id != actor.pk:
        raise ServiceError(NOT_FOUND_MESSAGE, code=ErrorCode.NOT_FOUND)
    with db_transaction.atomic():
        locked = transaction_lock(transaction)
        if locked.status != Status.PENDING:
            raise ServiceError(
                "Only an unpaid purchase can be cancelled; ask the seller for a refund.",
                code=ErrorCode.INVALID_TRANSITION,
            )
        cancelled = transaction_transition(
            transaction=locked,
            to_status=Status.CANCELLED,
            metadata={**locked.metadata, "cancelled_by": "buyer"},
        )
        _after_cancel(cancelled)
        return cancelled


def transaction_expire(*, transaction: Transaction, now: datetime | None = None) -> bool:
    """Cancel an unpaid checkout older than ``CHECKOUT_EXPIRY_MINUTES``; True if it did.

    For ``expire_checkouts``: rows another session holds are skipped (SKIP LOCKED), and the
    status and age are re-checked under the lock, so concurrent runs cancel each row once.
    """
    now = now or timezone.now()
    with db_transaction.atomic():
        locked = transaction_lock(transaction, skip_locked=True)
        if locked is None or locked.status != Status.PENDING:
            return False
        # An accepted offer's checkout may have longer (``transaction_start``'s checkout_minutes).
        minutes = locked.metadata.get("checkout_minutes") or settings.CHECKOUT_EXPIRY_MINUTES
        if locked.created_at > now - timedelta(minutes=minutes):
            return False
        cancelled = transaction_transition(
            transaction=locked,
            to_status=Status.CANCELLED,
            at=now,
            metadata={**locked.metadata, "cancelled_by": "expiry"},
        )
        _after_cancel(cancelled)
    return True
