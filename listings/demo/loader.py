"""The demo load: ``seed_demo()`` writes the catalogue's categories, then users, listings
and favorites with PostgreSQL ``COPY ... FROM STDIN``, all in one transaction, so a failed
load leaves nothing behind.

The listings' search-vector trigger fires on COPY as on INSERT. Favorites are the
exception: their per-row counting trigger would UPDATE one listing row per favorite (a
million-row load would rewrite the listings table over and over), so each listing's
``favorite_count`` is written with the listing, from the very favorites generated for it,
and the counting trigger is off for the favorites' COPY only. That happens inside the
transaction: the ALTER TABLE lock makes anybody else's favorite wait for the commit, so
none goes uncounted.

Both tables are empty when the load starts (it refuses a database with listings), so their
secondary indexes are dropped first and built again at the end from their exact
definitions: building a GIN or GiST index once is several times faster than maintaining it
row by row. The DROP INDEX lock makes readers of listings wait for the commit (a second at
demo sizes, minutes at a million rows). The tables are ANALYZEd before the commit.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, transaction
from django.db.models import NOT_PROVIDED
from django.utils import timezone
from tqdm import tqdm

from accounts.models import User
from listings.categories import bump_category_tree_version
from listings.demo.catalogue import CATALOGUE, merged_schema, validate_catalogue, walk
from listings.demo.generator import (
    DEMO_BUYER_EMAIL,
    DEMO_SELLER_EMAIL,
    LeafPlan,
    generate_listings,
    generate_users,
    random_uuid,
)
from listings.demo.images import ensure_images
from listings.models import Category, Listing
from listings.search.lexicon import lexicon_refresh
from marketplace.errors import ServiceError
from marketplace.events import after_commit

DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - printed for people trying the demo
# pg_advisory_xact_lock key: the bytes of "seeddemo" as a signed bigint (loads never interleave).
ADVISORY_LOCK_KEY = int.from_bytes(b"seeddemo", "big") - 2**63
COPY_BATCH = 2_000
# Empty when the load starts (it refuses a database with listings): indexes built at the end.
BULK_TABLES = ("listings_listing", "listings_favorite")


class DemoDataError(Exception):
    """The demo data cannot be loaded here; the message says why and what to do."""


USER_COLUMNS = (
    "id",
    "password",
    "last_login",
    "is_superuser",
    "email",
    "email_verified_at",
    "first_name",
    "last_name",
    "avatar",
    "bio",
    "is_seller",
    "seller_display_name",
    "is_staff",
    "is_active",
    "seller_verified_at",
    "stripe_connect_id",
    "total_sales_count",
    "seller_rating",
    "seller_rating_sum",
    "seller_rating_count",
    "buyer_rating",
    "buyer_rating_sum",
    "buyer_rating_count",
    "phone_number",
    "phone_verified_at",
    "kyc_verified_at",
    "account_status",
    "created_at",
    "updated_at",
)
LISTING_COLUMNS = (
    "id",
    "seller_id",
    "category_id",
    "title",
    "slug",
    "description",
    "price_cents",
    "currency",
    "pricing_type",
    "attributes",
    "images",
    "videos",
    "primary_image_url",
    "location_country",
    "location_city",
    "location_lat",
    "location_lng",
    "status",
    "visibility",
    "share_token",
    "featured",
    "featured_until",
    "meta_title",
    "meta_description",
    "view_count",
    "favorite_count",
    "inquiry_count",
    "created_at",
    "updated_at",
    "published_at",
    "sold_at",
)
FAVORITE_COLUMNS = ("id", "user_id", "listing_id", "created_at")


@dataclass
class SeedReport:
    seed: int
    categories_created: int = 0
    users: int = 0
    sellers: int = 0
    listings: int | None = 0
    favorites: int = 0
    images: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def ensure_categories(rng: random.Random, report: SeedReport) -> list[LeafPlan]:
    """Create the demo tree; a category whose slug already exists is reused as it is.

    Returns the leaves with their effective (merged) schemas, from the rows themselves, so
    listings match whatever schema a pre-existing category has.
    """
    rows: dict[str, Category] = {c.slug: c for c in Category.objects.all()}
    by_id = {c.id: c for c in rows.values()}
    leaves = []
    for sort_order, (spec, parent) in enumerate(walk(CATALOGUE)):
        category_id = random_uuid(rng)  # drawn whether or not it is used: the stream stays the same
        category = rows.get(spec.slug)
        if category is None:
            category = Category.objects.create(
                id=category_id,
                name=spec.name,
                slug=spec.slug,
                parent=rows[parent.slug] if parent else None,
                icon=spec.icon,
                sort_order=sort_order,
                attribute_schema=spec.schema,
            )
            rows[spec.slug] = by_id[category.id] = category
            report.categories_created += 1
        if not spec.children:
            chain, node = [], category
            while node is not None:
                chain.append(node.attribute_schema)
                node = by_id.get(node.parent_id)
            leaves.append(
                LeafPlan(
                    id=str(category.id),
                    name=category.name,
                    slug=category.slug,
                    spec=spec,
                    schema=merged_schema(reversed(chain)),
                )
            )
    return leaves


def _unlisted_defaults(model, columns: tuple[str, ...]) -> tuple[tuple[str, ...], tuple]:
    """Columns of ``model`` the generator does not write, with their fields' defaults, so that
    a column added later (without a database default) does not break the load."""
    extra_columns, values = [], []
    for model_field in model._meta.concrete_fields:
        if model_field.column in columns or model_field.db_default is not NOT_PROVIDED:
            continue
        extra_columns.append(model_field.column)
        values.append(model_field.get_db_prep_save(model_field.get_default(), connection))
    return tuple(extra_columns), tuple(values)


def _copy_rows(cursor, model, columns: tuple[str, ...], rows: Iterable[tuple], bar=None) -> int:
    extra_columns, extra = _unlisted_defaults(model, columns)
    written = 0
    statement = f"COPY {model._meta.db_table} ({', '.join(columns + extra_columns)}) FROM STDIN"
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row + extra if extra else row)
            written += 1
            if bar is not None and written % COPY_BATCH == 0:
                bar.update(COPY_BATCH)
    if bar is not None:
        bar.update(written % COPY_BATCH)
    return written


def _existing_demo_accounts() -> dict[str, str]:
    found = {}
    for email in (DEMO_SELLER_EMAIL, DEMO_BUYER_EMAIL):
        user = User.objects.filter(email__iexact=email).only("id", "is_seller").first()
        if user is not None:
            found[email] = str(user.id)
            if email == DEMO_SELLER_EMAIL and not user.is_seller:
                User.objects.filter(pk=user.pk).update(is_seller=True)
    return found


def seed_demo(
    *,
    listings: int = 200,
    users: int | None = None,
    seed: int = 42,
    images: bool = True,
    if_empty: bool = False,
    progress: bool = False,
) -> SeedReport | None:
    """Load the demo marketplace into a database that has no listings yet.

    Returns None when ``if_empty`` is set and listings exist; raises ``DemoDataError``
    when they exist otherwise. The load is one transaction, serialized by an advisory lock.
    """
    if listings < 0:
        raise DemoDataError("The number of listings cannot be negative.")
    users = max(30, listings) if users is None else users
    if users < 2:
        raise DemoDataError("At least two users are needed (the demo seller and the demo buyer).")
    validate_catalogue()
    started = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    report = SeedReport(seed=seed)
    now = timezone.now()
    password_hash = make_password(DEMO_PASSWORD)  # once: Argon2 costs ~0.1 s a hash

    try:
        _load(
            report,
            rng=rng,
            now=now,
            password_hash=password_hash,
            listings=listings,
            users=users,
            images=images,
            if_empty=if_empty,
            progress=progress,
        )
    except (IntegrityError, psycopg.errors.IntegrityError) as error:
        raise DemoDataError(
            f"The demo data conflicts with rows already in the database ({error}). Try another --seed, "
            "or load into an empty database."
        ) from error
    except ServiceError as error:
        # A category that existed before the load with another schema: its details do not fit.
        raise DemoDataError(
            f"The demo listings' details do not fit a category already in the database: {error.message} "
            "Load into an empty database, or fix that category's attribute schema."
        ) from error
    if report.listings is None:
        return None
    # After the commit: "Did you mean" suggestions come from the words of the loaded listings.
    lexicon_refresh()
    report.seconds = time.monotonic() - started
    return report


def _load(
    report: SeedReport, *, rng, now, password_hash, listings, users, images, if_empty, progress
) -> None:
    """The transaction of ``seed_demo``; leaves ``report.listings`` None when it skipped."""
    with transaction.atomic():
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        if Listing.objects.exists():
            if if_empty:
                report.listings = None
                return
            raise DemoDataError(
                f"The database already has {Listing.objects.count():,} listings; seed_demo only loads "
                "into a database without listings (use --if-empty to skip quietly)."
            )
        leaves = ensure_categories(rng, report)
        if images:
            report.images = ensure_images(leaves)
        existing = _existing_demo_accounts()
        for email in existing:
            report.notes.append(f"{email} already existed: reused as it is (its password is unchanged).")
        user_ids, sellers, user_rows = generate_users(
            rng, users, password_hash, now, existing, number_from=User.objects.count()
        )
        report.users, report.sellers = len(user_rows), len(sellers)

        raw = connection.connection
        with raw.cursor() as cursor, tempfile.TemporaryFile("w+", encoding="utf-8") as favorites_file:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            with tqdm(total=len(user_rows), unit=" users", disable=not progress, desc="Users") as bar:
                _copy_rows(cursor, User, USER_COLUMNS, user_rows, bar)
            del user_rows

            # DROP/CREATE INDEX and ALTER TABLE refuse a table with pending trigger events, as
            # deferred foreign-key checks are: check at each statement's end during the load.
            deferred_keys = _deferred_foreign_keys(cursor, BULK_TABLES)
            if deferred_keys:
                cursor.execute(f"SET CONSTRAINTS {deferred_keys} IMMEDIATE")
            # Both tables are empty (no listings, so no favorites): building their secondary
            # indexes once at the end is several times faster than row by row.
            dropped = _drop_secondary_indexes(cursor, BULK_TABLES)
            rows = generate_listings(rng, leaves, listings, user_ids, sellers, favorites_file, now)
            with tqdm(total=listings, unit=" listings", disable=not progress, desc="Listings") as bar:
                report.listings = _copy_rows(cursor, Listing, LISTING_COLUMNS, _counted(rows, report), bar)

            favorites_file.seek(0)
            with tqdm(
                total=report.favorites, unit=" favorites", disable=not progress, desc="Favorites"
            ) as bar:
                _copy_favorites(cursor, favorites_file, bar)

            cursor.execute("ALTER TABLE listings_favorite ENABLE TRIGGER listings_favorite_count")
            with tqdm(total=len(dropped), unit=" indexes", disable=not progress, desc="Indexes") as bar:
                for definition in dropped:
                    cursor.execute(definition)
                    bar.update()
            if deferred_keys:
                cursor.execute(f"SET CONSTRAINTS {deferred_keys} DEFERRED")
            # listings_listing_number: filled by its trigger; its (key, value) statistics
            # steer the number filters (listings migration 0013).
            cursor.execute(f"ANALYZE accounts_user, listings_listing_number, {', '.join(BULK_TABLES)}")
        after_commit(bump_category_tree_version)


def _copy_favorites(cursor, lines, bar) -> None:
    """COPY the favorites' text lines with the counting trigger off (the caller turns it
    back on): each listing's favorite_count was written with the listing, from these rows."""
    cursor.execute("ALTER TABLE listings_favorite DISABLE TRIGGER listings_favorite_count")
    with cursor.copy(f"COPY listings_favorite ({', '.join(FAVORITE_COLUMNS)}) FROM STDIN") as copy:
        while chunk := lines.read(1 << 20):
            copy.write(chunk)
            bar.update(chunk.count("\n"))


def _drop_secondary_indexes(cursor, tables: tuple[str, ...]) -> list[str]:
    """Drop the indexes of ``tables`` that back no constraint and enforce nothing (not
    unique, not a key); return their exact definitions, to create them again."""
    cursor.execute(
        """
        SELECT quote_ident(index_class.relname), pg_get_indexdef(i.indexrelid)
        FROM pg_index AS i
        JOIN pg_class AS index_class ON index_class.oid = i.indexrelid
        WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique AND NOT i.indisprimary
            AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)
        ORDER BY index_class.relname
        """,
        [list(tables)],
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    return [definition for _, definition in indexes]


def _deferred_foreign_keys(cursor, tables: tuple[str, ...]) -> str:
    """The foreign keys from or to ``tables`` that are deferred by default, as a SET
    CONSTRAINTS list (both ends: deleting a referenced row queues a check too)."""
    cursor.execute(
        "SELECT string_agg(DISTINCT quote_ident(conname), ', ') FROM pg_constraint "
        "WHERE (conrelid = ANY(%s::regclass[]) OR confrelid = ANY(%s::regclass[])) "
        "AND contype = 'f' AND condeferred",
        [list(tables), list(tables)],
    )
    return cursor.fetchone()[0] or ""


def _counted(rows, report: SeedReport):
    """Pass the listing rows through, keeping the generator's favorites total."""
    report.favorites = yield from rows
