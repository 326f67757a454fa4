"""Writes for listings: the editor and the lifecycle moves, favorites, page-cache invalidation.

The lifecycle rules (transitions, editable statuses, refusals) are data in
``listings.lifecycle``; view counting is ``listings.view_counts``.
"""

import logging
import math
import re
import secrets
import time
import uuid
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.text import slugify

from accounts.services import ensure_can_publish, ensure_can_transact
from listings import hooks as listings_hooks
from listings.categories import attribute_schema_for, bump_category_tree_version, category_tree
from listings.countries import COUNTRY_CODES, COUNTRY_MESSAGE
from listings.lifecycle import (
    LISTING_TRANSITIONS,
    listing_edit_refusal,
    listing_is_deletable,
    listing_transition_check,
)
from listings.models import Favorite, Listing, ListingStatus, ListingVisibility, PricingType
from listings.selectors import (
    HOME_VERSION_KEY,
    LISTING_VERSION_KEY,
    SELLER_VERSION_KEY,
    VERSION_TTL,
    listing_is_public,
)
from marketplace.errors import ErrorCode, ServiceError
from marketplace.events import after_commit
from marketplace.money import MAX_MAJOR_UNITS, below_minimum_charge, minimum_charge_message
from marketplace.ratelimit import RateLimit

logger = logging.getLogger(__name__)


# --- Listing page cache ---------------------------------------------------------------
def _bump_version(*keys: str) -> None:
    for key in keys:
        try:
            # The raising client, not ``cache.incr``: the cache ignores Redis errors (pages work
            # without Redis), but a lost invalidation must reach after_commit's error log.
            cache.client.incr(key)
        except ValueError:
            # Missing (never read, evicted or expired): a fresh value no old fragment is filed under.
            cache.set(key, time.time_ns(), timeout=VERSION_TTL)


def listing_changed(listing_id) -> None:
    """Retire the listing's cached page once the current transaction commits.

    Every service that changes what a listing page shows (edit, publish, reserve, sell,
    archive, visibility, images) calls this. Outside a transaction it acts at once.
    """
    # And the home page's lists (newest, featured).
    after_commit(_bump_version, LISTING_VERSION_KEY.format(id=listing_id), HOME_VERSION_KEY)


def category_tree_changed() -> None:
    """Retire the cached category tree (and the listing pages built on it) on commit."""
    after_commit(bump_category_tree_version)


def seller_changed(user_id) -> None:
    """Retire the cached pages of every listing of the seller once the transaction commits.

    For changes to the seller card or the reviews on their pages: profile and badges, and
    every review write (create, reply, moderation). Rating changes made by the reviews
    trigger also move the page key through the seller's ``updated_at``, but a reply or a
    comment edit does not touch the user row, so review services call this.
    """
    after_commit(_bump_version, SELLER_VERSION_KEY.format(id=user_id))


# --- Favorites ------------------------------------------------------------------------
def favorite_add(*, user, listing: Listing) -> bool:
    """Add ``listing`` to the user's favorites; True if it was not there yet.

    Only listings reachable at their public URL can be favorited (not unlisted, private,
    unpublished, or a banned seller's); ``listing.seller`` must be loaded. Idempotent under
    double clicks and concurrency: ``INSERT ... ON CONFLICT DO NOTHING`` on the (user,
    listing) unique constraint, and the ``listings_favorite_count`` trigger counts only rows
    actually inserted.
    """
    if not listing_is_public(listing):
        raise ServiceError("This listing is not available.", code=ErrorCode.NOT_FOUND)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Favorite._meta.db_table} (id, user_id, listing_id) "  # noqa: S608 - model constant
            "VALUES (%s, %s, %s) ON CONFLICT (user_id, listing_id) DO NOTHING RETURNING id",
            [uuid.uuid4(), user.pk, listing.pk],
        )
        return cursor.fetchone() is not None


def favorite_remove(*, user, listing: Listing) -> bool:
    """Remove ``listing`` from the user's favorites; True if it was there. Removing a
    favorite that is not there is fine (a second click, another tab)."""
    deleted, _ = Favorite.objects.filter(user_id=user.pk, listing_id=listing.pk).delete()
    return deleted > 0


def _ensure_owner(listing: Listing, actor) -> None:
    # Same answer as for a listing that does not exist: ids do not leak.
    if not actor.is_authenticated or listing.seller_id != actor.pk:
        raise ServiceError("No such listing.", code=ErrorCode.NOT_FOUND)


def _lock(listing: Listing) -> Listing:
    return Listing.objects.select_for_update().defer("search_vector").get(pk=listing.pk)


TITLE_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 20_000
CITY_MAX_LENGTH = 100
META_TITLE_MAX_LENGTH = 60
META_DESCRIPTION_MAX_LENGTH = 160
ATTRIBUTE_TEXT_MAX_LENGTH = 200
COORDINATE_DECIMAL_PLACES = 8
LISTING_EDITABLE_FIELDS = (
    "title",
    "description",
    "category_id",
    "price_cents",
    "currency",
    "pricing_type",
    "attributes",
    "location_country",
    "location_city",
    "location_lat",
    "location_lng",
    "visibility",
    "meta_title",
    "meta_description",
)
_REQUIRED_ON_CREATE = ("title", "description", "category_id")


def _category_schema(category_id) -> tuple[str, list[dict]]:
    """(name, merged attribute schema) of the category, from the cached tree of the current
    version (a write checks against the schema of now, not of a second ago)."""
    tree = category_tree(fresh=True)
    node = tree.by_id.get(str(category_id))
    if node is None:
        raise ServiceError("Choose a category from the list.", code=ErrorCode.INVALID_CATEGORY)
    return node.name, attribute_schema_for(node, tree)


def listing_attributes_validate(*, category_id, attributes, coerce: bool = False) -> dict:
    """``attributes`` checked against the category's merged schema (``attributes_normalise``);
    raises ``ServiceError`` for an unknown category."""
    category_name, schema = _category_schema(category_id)
    return attributes_normalise(
        schema=schema, attributes=attributes, category_name=category_name, coerce=coerce
    )


NUMBER_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
BOOLEAN_TEXT = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def _coerced(attribute: dict, value):
    """An unambiguous spelling of ``value`` in the attribute's type, or ``value`` unchanged:
    ``"11"`` for a number is 11, ``"yes"`` for a boolean is true, ``"oak"`` for an enum with
    the option ``"Oak"`` is ``"Oak"``, a number for a text is its digits."""
    kind = attribute["type"]
    if kind == "number" and isinstance(value, str) and NUMBER_TEXT.match(value.strip()):
        number = Decimal(value.strip())
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "boolean":
        if isinstance(value, str) and value.strip().lower() in BOOLEAN_TEXT:
            return BOOLEAN_TEXT[value.strip().lower()]
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
    if kind == "enum" and isinstance(value, str):
        matches = [option for option in attribute["options"] if option.casefold() == value.strip().casefold()]
        if len(matches) == 1:
            return matches[0]
    if (
        kind == "text"
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    ):
        return str(value)
    return value


def attributes_normalise(*, schema: list[dict], attributes, category_name: str, coerce: bool = False) -> dict:
    """The one check of a listing's details against its category's (merged) ``schema``, for
    every write path (editor and services, admin, demo loader, ``check_attributes``).

    Every key defined, every required one present, each value of its type: numbers as JSON
    numbers (never text: a text "11" drops out of every numeric filter), booleans as true or
    false, enums as one of the options, text stripped and at most ATTRIBUTE_TEXT_MAX_LENGTH.
    Empty optional values are left out. With ``coerce`` (the admin's JSON box, and
    ``check_attributes --fix`` on stored rows), unambiguous spellings are typed first
    (``_coerced``). Returns the attributes to store; raises ``ServiceError`` naming every
    problem.
    """
    if not isinstance(attributes, dict):
        raise ServiceError(
            "Listing details must be a mapping of detail names to values.", code=ErrorCode.INVALID_ATTRIBUTES
        )
    by_key = {attribute["key"]: attribute for attribute in schema}
    problems = []
    unknown = sorted(set(attributes) - set(by_key))
    if unknown:
        problems.append(f"{category_name} listings have no detail named {', '.join(unknown)}.")
    values = {}
    for attribute in schema:
        key, label, kind = attribute["key"], attribute["label"], attribute["type"]
        value = attributes.get(key)
        if coerce:
            value = _coerced(attribute, value)
        if isinstance(value, str) and kind in ("enum", "text"):
            value = value.strip()
        if value is None or value == "":
            if attribute.get("required"):
                problems.append(f"{label} is required.")
            continue
        if kind == "number":
            valid = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            expected = "a number"
        elif kind == "enum":
            valid = value in attribute["options"]
            expected = f"one of {', '.join(attribute['options'])}"
        elif kind == "boolean":
            valid = isinstance(value, bool)
            expected = "yes or no"
        else:
            valid = isinstance(value, str) and len(value) <= ATTRIBUTE_TEXT_MAX_LENGTH
            expected = f"text of at most {ATTRIBUTE_TEXT_MAX_LENGTH} characters"
        if not valid:
            problems.append(f"{label} must be {expected}.")
            continue
        values[key] = value
    if problems:
        raise ServiceError(" ".join(problems), code=ErrorCode.INVALID_ATTRIBUTES)
    return values


def _text(values: dict, field: str, label: str, max_length: int, problems: list, *, required=False):
    value = values[field]
    if not isinstance(value, str):
        problems.append(f"{label} must be text.")
        return
    value = value.strip()
    values[field] = value
    if required and not value:
        problems.append(f"{label} is required.")
    elif len(value) > max_length:
        problems.append(f"{label} must be at most {max_length} characters.")


def _coordinate(value, label: str, limit: int, problems: list) -> Decimal | None:
    if value is None:
        return None
    try:
        value = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not -limit <= value <= limit:
        problems.append(f"{label} must be between -{limit} and {limit}.")
    elif -value.as_tuple().exponent > COORDINATE_DECIMAL_PLACES:
        problems.append(f"{label} has at most {COORDINATE_DECIMAL_PLACES} decimal places.")
    return value


def _listing_values(*, data: dict, listing: Listing | None) -> dict:
    """The listing's editable values after applying ``data``, validated as a whole.

    ``data`` holds any of ``LISTING_EDITABLE_FIELDS`` (a new listing needs title,
    description and category_id); prices are integer minor units of ``currency``.
    """
    unknown = sorted(set(data) - set(LISTING_EDITABLE_FIELDS))
    if unknown:
        raise ServiceError(
            f"These listing fields cannot be set: {', '.join(unknown)}.", code=ErrorCode.INVALID
        )
    if listing is None:
        missing = [field for field in _REQUIRED_ON_CREATE if not data.get(field)]
        if missing:
            raise ServiceError(f"A listing needs {', '.join(missing)}.", code=ErrorCode.INVALID)
        current = {
            "price_cents": None,
            "currency": settings.DEFAULT_CURRENCY,
            "pricing_type": PricingType.FIXED,
            "attributes": {},
            "location_country": "",
            "location_city": "",
            "location_lat": None,
            "location_lng": None,
            "visibility": ListingVisibility.PUBLIC,
            "meta_title": "",
            "meta_description": "",
        }
    else:
        current = {field: getattr(listing, field) for field in LISTING_EDITABLE_FIELDS}
    values = {**current, **data}
    try:
        values["category_id"] = uuid.UUID(str(values["category_id"]))
    except ValueError:
        raise ServiceError("Choose a category from the list.", code=ErrorCode.INVALID_CATEGORY) from None
    problems: list[str] = []
    _text(values, "title", "The title", TITLE_MAX_LENGTH, problems, required=True)
    _text(values, "description", "The description", DESCRIPTION_MAX_LENGTH, problems, required=True)
    _text(values, "location_city", "The city", CITY_MAX_LENGTH, problems)
    _text(values, "meta_title", "The search-engine title", META_TITLE_MAX_LENGTH, problems)
    _text(values, "meta_description", "The search-engine description", META_DESCRIPTION_MAX_LENGTH, problems)
    if values["currency"] not in settings.CURRENCIES:
        problems.append(f"Choose one of these currencies: {', '.join(settings.CURRENCIES)}.")
    if values["pricing_type"] not in PricingType.values:
        problems.append("Choose a pricing type from the list.")
    if values["visibility"] not in ListingVisibility.values:
        problems.append("Choose a visibility from the list.")
    price = values["price_cents"]
    if price is None:
        if values["pricing_type"] == PricingType.FIXED:
            problems.append(FIXED_PRICE_NEEDS_PRICE)
    elif isinstance(price, bool) or not isinstance(price, int) or price <= 0:
        problems.append(PRICE_ABOVE_ZERO)
    elif values["currency"] in settings.CURRENCIES and price > MAX_MAJOR_UNITS.scaleb(
        settings.CURRENCIES[values["currency"]]
    ):
        problems.append("The price is too large.")
    elif values["pricing_type"] == PricingType.FIXED and below_minimum_charge(price, values["currency"]):
        problems.append(minimum_charge_message(values["currency"]))
    country = values["location_country"]
    if not isinstance(country, str) or country.strip().upper() not in COUNTRY_CODES | {""}:
        problems.append(COUNTRY_MESSAGE)
    else:
        values["location_country"] = country.strip().upper()
    values["location_lat"] = _coordinate(values["location_lat"], "The latitude", 90, problems)
    values["location_lng"] = _coordinate(values["location_lng"], "The longitude", 180, problems)
    if (values["location_lat"] is None) != (values["location_lng"] is None):
        problems.append(BOTH_COORDINATES)
    if problems:
        raise ServiceError(" ".join(problems), code=ErrorCode.INVALID)
    if listing is None or {"category_id", "attributes"} & set(data):
        values["attributes"] = listing_attributes_validate(
            category_id=values["category_id"], attributes=values["attributes"]
        )
    return values


FIXED_PRICE_NEEDS_PRICE = (
    "A fixed-price listing needs a price (buyers pay it at checkout). Leave the price empty only "
    "with negotiable, hourly or per-project pricing: it shows as “Contact for price”."
)
PRICE_ABOVE_ZERO = "Enter a price above zero, or leave it empty for “Contact for price”."
BOTH_COORDINATES = "Give both latitude and longitude, or neither."

# --- Slugs: from the title, unique, frozen once the listing was first published ---------
SLUG_BASE_MAX_LENGTH = 80
SLUG_SUFFIX = re.compile(r"^[0-9a-f]{6}$")
SLUG_CONSTRAINT = "listings_listing_slug_unique"
SLUG_ATTEMPTS = 5


def _slug_base(title: str) -> str:
    return slugify(title)[:SLUG_BASE_MAX_LENGTH].strip("-") or "listing"


def _slug_fits(slug: str, base: str) -> bool:
    """Whether ``slug`` is ``base`` or ``base`` with a collision suffix."""
    return slug == base or (slug.startswith(f"{base}-") and bool(SLUG_SUFFIX.match(slug[len(base) + 1 :])))


def _with_suffix(base: str) -> str:
    return f"{base}-{secrets.token_hex(3)}"


def _free_slug(base: str, *, exclude_pk=None) -> str:
    taken = Listing.objects.filter(slug=base)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    return _with_suffix(base) if taken.exists() else base


def _violated_constraint(error: IntegrityError) -> str | None:
    return getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)


def _save_with_unique_slug(listing: Listing, *, base: str, update_fields: list[str] | None = None) -> None:
    """Insert (``update_fields`` None) or update the listing; a slug taken meanwhile by a
    concurrent writer gets a fresh random suffix (the unique index decides, in a savepoint)."""
    for attempt in range(SLUG_ATTEMPTS):
        try:
            with transaction.atomic():
                if update_fields is None:
                    listing.save(force_insert=True)
                else:
                    listing.save(update_fields=update_fields)
            return
        except IntegrityError as error:
            if _violated_constraint(error) != SLUG_CONSTRAINT or attempt == SLUG_ATTEMPTS - 1:
                raise
            listing.slug = _with_suffix(base)
            if update_fields is not None and "slug" not in update_fields:
                update_fields.append("slug")


# --- Rate limit of new listings ----------------------------------------------------------
def _listings_created_limit() -> RateLimit:
    return RateLimit("listings-created", settings.LISTINGS_CREATED_PER_HOUR, 60 * 60)


def listing_create_retry_after(*, seller) -> int | None:
    """Seconds until ``seller`` may create another listing, or None if they may now."""
    limit = _listings_created_limit()
    return limit.retry_after() if limit.exceeded(str(seller.pk)) else None


def listing_create_limit_message(retry_after: int) -> str:
    minutes = math.ceil(retry_after / 60)
    return (
        f"You can create up to {settings.LISTINGS_CREATED_PER_HOUR} listings an hour, and you have "
        f"reached that. Try again in {minutes} minute{'s' if minutes != 1 else ''}; your other "
        "listings can still be edited meanwhile."
    )


# --- Services -------------------------------------------------------------------------
# Each takes the listing row's lock (SELECT ... FOR UPDATE) for its transaction and decides
# on the locked row, so two tabs or a purchase racing a button cannot both win.
def listing_create(*, seller, data: dict) -> Listing:
    """Create a draft of ``seller``'s from ``data`` (see ``_listing_values``).

    Counts against ``LISTINGS_CREATED_PER_HOUR`` (Redis, per seller); past it raises
    ``ServiceError`` with code ``rate_limited``. Only valid data is counted.
    """
    ensure_can_transact(seller)
    values = _listing_values(data=data, listing=None)
    limit = _listings_created_limit()
    if limit.hit(str(seller.pk)) > limit.limit:
        raise ServiceError(listing_create_limit_message(limit.retry_after()), code=ErrorCode.RATE_LIMITED)
    base = _slug_base(values["title"])
    with transaction.atomic():
        listing = Listing(seller=seller, status=ListingStatus.DRAFT, **values)
        listing.slug = _free_slug(base)
        _save_with_unique_slug(listing, base=base)
        listing_changed(listing.pk)
    logger.info("listing created: %s by %s", listing.pk, seller.pk)
    return listing


def listing_update(*, listing: Listing, actor, data: dict) -> Listing:
    """Apply ``data`` (any of ``LISTING_EDITABLE_FIELDS``) to the owner's draft or active
    listing, validated against the locked row. Changing the category re-validates the
    attributes against the new category's schema. The slug follows the title until the
    listing is first published, then never changes. Returns the updated row."""
    _ensure_owner(listing, actor)
    ensure_can_transact(actor)
    with transaction.atomic():
        locked = _lock(listing)
        refusal = listing_edit_refusal(locked)
        if refusal is not None:
            raise ServiceError(refusal, code=ErrorCode.NOT_EDITABLE)
        values = _listing_values(data=data, listing=locked)
        fields = [field for field, value in values.items() if getattr(locked, field) != value]
        price_before, currency_before = locked.price_cents, locked.currency
        for field in fields:
            setattr(locked, field, values[field])
        base = _slug_base(locked.title)
        if locked.published_at is None and not _slug_fits(locked.slug, base):
            locked.slug = _free_slug(base, exclude_pk=locked.pk)
            fields.append("slug")
        if fields:
            status = locked.status
            listing_resubmit_if_required(locked, fields)
            if locked.status != status:
                fields.append("status")
            _save_with_unique_slug(locked, base=base, update_fields=fields)
            listing_changed(locked.pk)
            if _is_price_drop(locked, price_before, currency_before):
                after_commit(
                    listings_hooks.listing_price_dropped,
                    locked.pk,
                    price_before,
                    locked.price_cents,
                    timezone.now().isoformat(),
                )
    return locked


def _is_price_drop(listing: Listing, price_before: int | None, currency_before: str) -> bool:
    """A lower price in the same currency on a listing buyers can see (what favoriters hear of)."""
    return (
        listing.status == ListingStatus.ACTIVE
        and price_before is not None
        and listing.price_cents is not None
        and listing.currency == currency_before
        and listing.price_cents < price_before
    )


def _ensure_publishable(listing: Listing) -> None:
    """What a buyer needs before the listing goes live: a price for a fixed-price listing,
    and details that still match the category (its schema may have changed since)."""
    if listing.pricing_type == PricingType.FIXED and listing.price_cents is None:
        raise ServiceError(FIXED_PRICE_NEEDS_PRICE, code=ErrorCode.INCOMPLETE)
    if listing.pricing_type == PricingType.FIXED and below_minimum_charge(
        listing.price_cents, listing.currency
    ):
        raise ServiceError(
            f"Edit the listing before publishing: {minimum_charge_message(listing.currency)}",
            code=ErrorCode.BELOW_MINIMUM_CHARGE,
        )
    try:
        listing_attributes_validate(category_id=listing.category_id, attributes=listing.attributes)
    except ServiceError as error:
        raise ServiceError(
            f"Edit the listing before publishing: {error.message}", code=ErrorCode.INCOMPLETE
        ) from error


def listing_approval_required(seller) -> bool:
    """Whether ``seller``'s listings wait for staff approval: ``LISTING_APPROVAL_REQUIRED`` is on
    and the seller lacks the seller-verified badge."""
    return bool(settings.LISTING_APPROVAL_REQUIRED) and seller.seller_verified_at is None


# An edit of what buyers judge sends an approved listing back to the approval queue.
APPROVAL_FIELDS = frozenset({"title", "description", "price_cents", "currency", "pricing_type"})


def listing_resubmit_if_required(locked: Listing, changed) -> None:
    """Active -> pending when approval is required and ``changed`` touches ``APPROVAL_FIELDS``
    (or the photos). The caller holds the row lock and saves ``status``."""
    if not settings.LISTING_APPROVAL_REQUIRED or locked.status != ListingStatus.ACTIVE:
        return  # no query for the seller's badge
    if set(changed) & (APPROVAL_FIELDS | {"images"}) and listing_approval_required(locked.seller):
        locked.status = listing_transition_check(locked, "resubmit").target


def listing_publish(*, listing: Listing, actor) -> Listing:
    """Draft -> active. Needs a seller in good standing with a verified email. The first
    publication sets ``published_at`` (which freezes the slug); publishing again after
    unpublishing keeps it, so unpublishing cannot be used to jump to the top of "newest".

    With ``LISTING_APPROVAL_REQUIRED`` and a seller without the seller-verified badge, the
    listing goes to pending instead (``published_at`` is set when staff approve it)."""
    _ensure_owner(listing, actor)
    ensure_can_publish(actor)
    if not actor.is_seller:
        raise ServiceError(
            "Set up your seller profile before publishing: choose the name buyers will see.",
            code=ErrorCode.NOT_SELLER,
        )
    with transaction.atomic():
        locked = _lock(listing)
        transition = listing_transition_check(locked, "publish")
        _ensure_publishable(locked)
        if listing_approval_required(actor):
            locked.status = listing_transition_check(locked, "submit").target
            locked.save(update_fields=["status"])
            listing_changed(locked.pk)
            return locked
        locked.status = transition.target
        locked.published_at = locked.published_at or timezone.now()
        locked.save(update_fields=["status", "published_at"])
        listing_changed(locked.pk)
    return locked


def _owner_transition(*, listing: Listing, actor, action: str, **changes) -> Listing:
    _ensure_owner(listing, actor)
    ensure_can_transact(actor)
    with transaction.atomic():
        locked = _lock(listing)
        transition = listing_transition_check(locked, action)
        locked.status = transition.target
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=["status", *changes])
        listing_changed(locked.pk)
    return locked


def listing_unpublish(*, listing: Listing, actor) -> Listing:
    """Active -> draft: off the site until published again (``published_at`` is kept)."""
    return _owner_transition(listing=listing, actor=actor, action="unpublish")


def listing_mark_sold(*, listing: Listing, actor) -> Listing:
    """Active -> sold, by the seller who sold it elsewhere. (A purchase on the site sells
    the listing at escrow release: the ``complete_sale`` transition.)"""
    return _owner_transition(listing=listing, actor=actor, action="mark_sold", sold_at=timezone.now())


def listing_archive(*, listing: Listing, actor) -> Listing:
    """Draft or active -> archived: off the site for good, kept in the seller's records."""
    return _owner_transition(listing=listing, actor=actor, action="archive")


def listing_delete(*, listing: Listing, actor) -> str:
    """Delete a draft that was never published; return ``"deleted"``.

    A listing that was published (active, or a draft again after unpublishing) may have
    links, favorites, conversations or transactions pointing at it, so it is archived
    instead, returning ``"archived"``. Reserved, sold and archived listings are refused.
    """
    _ensure_owner(listing, actor)
    ensure_can_transact(actor)
    with transaction.atomic():
        locked = _lock(listing)
        listing_transition_check(locked, "delete")
        if listing_is_deletable(locked):
            try:
                with transaction.atomic():
                    locked.delete()
            except ProtectedError:
                pass  # something refers to it after all: archive below
            else:
                listing_changed(listing.pk)
                return "deleted"
        locked.status = listing_transition_check(locked, "archive").target
        locked.save(update_fields=["status"])
        listing_changed(locked.pk)
    return "archived"


def listing_purchase_move(*, listing: Listing, action: str, **changes) -> Listing:
    """Apply a purchase-flow move (``reserve``, ``release``, ``complete_sale``) to ``listing``.

    For ``payments.services`` only: the caller holds the listing's row lock
    (``select_for_update``) inside its own atomic block, so the listing moves in the same
    database transaction as the payments row. Raises ``ServiceError`` for a move the
    listing's status does not allow.
    """
    if LISTING_TRANSITIONS[action].owner:
        raise ValueError(f"{action!r} is an owner's move, not a purchase move.")
    transition = listing_transition_check(listing, action)
    listing.status = transition.target
    for field, value in changes.items():
        setattr(listing, field, value)
    listing.save(update_fields=["status", *changes])
    listing_changed(listing.pk)
    return listing


# --- Account deletion (composed by privacy.services.account_delete) -------------------------
def listings_withdraw_member(*, user) -> int:
    """Take a deleting member off the site: every listing of theirs the lifecycle lets archive
    (draft, active, waiting for approval) is archived, their favorites are deleted, and their
    cached pages (listings, seller card, facet counts) are retired after commit. Sold and
    archived listings stay as records. Locks the listings it archives; returns how many.
    Reserved listings are the caller's business (an order in progress refuses the deletion).
    """
    archived = 0
    with transaction.atomic():
        for listing in Listing.objects.select_for_update().filter(seller_id=user.pk).order_by("pk"):
            try:
                transition = listing_transition_check(listing, "archive")
            except ServiceError:
                continue
            listing.status = transition.target
            listing.save(update_fields=["status"])
            listing_changed(listing.pk)
            archived += 1
        Favorite.objects.filter(user_id=user.pk).delete()
        seller_changed(user.pk)
        if archived:
            category_tree_changed()  # facet counts are filed under the tree's version
    return archived
