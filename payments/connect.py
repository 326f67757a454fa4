"""Seller onboarding to Stripe Connect (Express) and the payout status the seller pages show.

Writes (``seller_connect_account_create``) and the cached read of an account's readiness
(``seller_payout_status``). Escrow release never uses the cache: ``payouts.payout_transfer``
asks Stripe every time.
"""

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction as db_transaction

from accounts.models import User
from accounts.services import ensure_can_start_selling
from marketplace.errors import ErrorCode, ServiceError
from payments.gateway import AccountLink, GatewayError, PaymentRefused, connect_gateway

logger = logging.getLogger(__name__)

# Long enough that the dashboard does not call Stripe on every view, short enough that a
# change made on Stripe's side (payouts enabled or paused) shows within minutes.
PAYOUT_STATUS_CACHE_SECONDS = 300

NOT_SELLER_MESSAGE = "Become a seller before you set up payouts."
CONNECT_UNAVAILABLE_MESSAGE = "Stripe could not be reached just now; nothing was lost, please try again."

T = TypeVar("T")


class PayoutStatus(StrEnum):
    NOT_CONNECTED = "not_connected"
    INCOMPLETE = "incomplete"  # an account exists; onboarding not finished or payouts not enabled
    ENABLED = "enabled"
    UNKNOWN = "unknown"  # Stripe could not be asked just now


def _status_key(account_id: str) -> str:
    return f"payments:payout-status:{account_id}"


def payout_status_changed(account_id: str) -> None:
    """Forget the cached readiness of a Connect account (on a new link, a completed
    onboarding, or Stripe's ``account.updated``)."""
    cache.delete(_status_key(account_id))


def seller_payout_status(*, user, fresh: bool = False) -> PayoutStatus:
    """The seller's payout status, cached in Redis for a few minutes (``fresh`` asks Stripe
    and refreshes the cache). No SQL query."""
    account_id = user.stripe_connect_id
    if not account_id:
        return PayoutStatus.NOT_CONNECTED
    if not fresh and (cached := cache.get(_status_key(account_id))):
        return PayoutStatus(cached)
    try:
        account = connect_gateway().retrieve_account(account_id)
    except GatewayError:
        logger.warning("could not retrieve connected account %s", account_id, exc_info=True)
        return PayoutStatus.UNKNOWN
    status = PayoutStatus.ENABLED if account.payout_ready else PayoutStatus.INCOMPLETE
    cache.set(_status_key(account_id), status.value, PAYOUT_STATUS_CACHE_SECONDS)
    return status


def _asking_stripe(call: Callable[[], T], *, user) -> T:
    """``call()``, with the gateway's errors as ``ServiceError(CONNECT_UNAVAILABLE_MESSAGE)``
    (code ``PAYMENT_REFUSED`` or ``PAYMENT_UNAVAILABLE``): the seller can only try again."""
    try:
        return call()
    except GatewayError as error:
        logger.warning("Connect call for user %s failed: %s", user.pk, error, exc_info=True)
        code = (
            ErrorCode.PAYMENT_REFUSED if isinstance(error, PaymentRefused) else ErrorCode.PAYMENT_UNAVAILABLE
        )
        raise ServiceError(CONNECT_UNAVAILABLE_MESSAGE, code=code) from error


def _ensure_can_connect(user) -> None:
    if not user.is_seller:
        raise ServiceError(NOT_SELLER_MESSAGE, code=ErrorCode.NOT_SELLER)
    ensure_can_start_selling(user)


def seller_connect_account_create(*, user: User) -> User:
    """Give the seller a Stripe Express account unless they have one; return the user.

    Locks the user row, so two clicks at once create at most one account; the Stripe call
    carries the key ``connect-account-<user id>``, so a retry after a crash between the call
    and the commit gets the same account back from Stripe. ``ServiceError`` when the user may
    not sell, or Stripe cannot be asked (``PAYMENT_UNAVAILABLE``/``PAYMENT_REFUSED``: nothing
    was stored).
    """
    _ensure_can_connect(user)
    with db_transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.stripe_connect_id:
            account = _asking_stripe(
                lambda: connect_gateway().create_express_account(
                    email=locked.email, idempotency_key=f"connect-account-{locked.pk}"
                ),
                user=locked,
            )
            locked.stripe_connect_id = account.id
            locked.save(update_fields=["stripe_connect_id"])
            logger.info("connected account %s created for user %s", account.id, locked.pk)
    user.stripe_connect_id = locked.stripe_connect_id
    return locked


def seller_connect_link(*, user, refresh_url: str, return_url: str) -> AccountLink:
    """A fresh onboarding link for the seller's account (links are single-use and expire).
    ``ServiceError`` as ``seller_connect_account_create``, or ``NOT_CONNECTED`` without one."""
    _ensure_can_connect(user)
    if not user.stripe_connect_id:
        raise ServiceError("Set up payouts first.", code=ErrorCode.NOT_CONNECTED)
    payout_status_changed(user.stripe_connect_id)
    return _asking_stripe(
        lambda: connect_gateway().create_account_link(
            account_id=user.stripe_connect_id, refresh_url=refresh_url, return_url=return_url
        ),
        user=user,
    )


def seller_connect_simulated_complete(*, user, account_id: str):
    """Test mode only: finish the simulated onboarding of the seller's own account."""
    gateway = connect_gateway()
    if not gateway.simulated or user.stripe_connect_id != account_id:
        raise ServiceError("No such account.", code=ErrorCode.NOT_FOUND)
    account = gateway.complete_onboarding(account_id)
    payout_status_changed(account_id)
    return account
