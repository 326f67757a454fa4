import functools
import re
import secrets
import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, GistIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.lookups import Exact
from django.urls import get_script_prefix, get_urlconf, reverse

from listings.attributes import validate_attribute_schema
from marketplace.db import (
    CreatedAtField,
    TriggerManagedFieldsMixin,
    UpdatedAtField,
    choices_check,
    currency_check,
)


def jsonb_type_is(field: str, json_type: str) -> Exact:
    return Exact(Func(F(field), function="jsonb_typeof", output_field=models.TextField()), json_type)


def new_share_token() -> str:
    return secrets.token_urlsafe(16)


class Category(models.Model):
    """A node of the category tree; ``attribute_schema`` types the listings' attributes.

    ``attribute_schema`` is a list of ``{"key", "label", "type", "unit", "options",
    "required"}`` objects, ``type`` one of number/enum/boolean/text (validated by
    ``listings.attributes.validate_attribute_schema``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, db_index=False)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    icon = models.CharField(max_length=50, blank=True)
    sort_order = models.IntegerField(default=0)
    attribute_schema = models.JSONField(default=list, blank=True)
    created_at = CreatedAtField()

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["sort_order", "name"]
        constraints = [
            # Constraints rather than unique=True: no extra varchar_pattern_ops index.
            models.UniqueConstraint(fields=["slug"], name="listings_category_slug_unique"),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="listings_category_not_own_parent"),
            models.CheckConstraint(
                condition=jsonb_type_is("attribute_schema", "array"),
                name="listings_category_attribute_schema_is_array",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        validate_attribute_schema(self.attribute_schema)
        ancestor = self.parent
        while ancestor is not None:
            if ancestor.pk == self.pk:
                raise ValidationError(
                    {"parent": "A category cannot be placed under itself or its descendants."}
                )
            ancestor = ancestor.parent


class ListingStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    RESERVED = "reserved", "Reserved"
    SOLD = "sold", "Sold"
    ARCHIVED = "archived", "Archived"
    # LISTING_APPROVAL_REQUIRED: a listing of a seller without the seller-verified badge
    # waits here for staff to approve (-> active) or decline (-> draft, with a reason).
    PENDING = "pending", "Waiting for approval"


class ListingVisibility(models.TextChoices):
    PUBLIC = "public", "Public"
    UNLISTED = "unlisted", "Unlisted"
    PRIVATE = "private", "Private"


class PricingType(models.TextChoices):
    FIXED = "fixed", "Fixed price"
    NEGOTIABLE = "negotiable", "Negotiable"
    HOURLY = "hourly", "Hourly"
    PROJECT = "project", "Per project"


# The day a listing was published, in UTC: listings.search.ranking.PublishedDay.
PUBLISHED_DAY = "((%(expressions)s AT TIME ZONE 'UTC')::date)"


class Listing(TriggerManagedFieldsMixin, models.Model):
    """One item for sale (the seed has no quantity). Money is integer minor units."""

    Status = ListingStatus

    Visibility = ListingVisibility

    PricingType = PricingType

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by listing_seller_created, which starts with seller_id.
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="listings", db_index=False
    )
    # The seller is banned: the listing is hidden from everyone but staff. Kept by the database
    # (listings migration 0015: a trigger on accounts_user when account_status changes, and one
    # on listings when a row is inserted or changes seller), never written by the application.
    # A column rather than a NOT EXISTS over the banned users, so that the search's partial
    # indexes hold only visible listings and no query hashes the banned users.
    seller_banned = models.BooleanField(default=False, db_default=False, editable=False)
    # Indexed by listing_category_status_pub.
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="listings", db_index=False)

    title = models.CharField(max_length=255)
    slug = models.SlugField(max_length=255, db_index=False)
    description = models.TextField()

    price_cents = models.BigIntegerField(null=True, blank=True, help_text="Empty: contact for price.")
    currency = models.CharField(max_length=3, default="USD")
    pricing_type = models.CharField(max_length=20, choices=PricingType.choices, default=PricingType.FIXED)

    attributes = models.JSONField(default=dict, blank=True)

    images = models.JSONField(default=list, blank=True)
    videos = models.JSONField(default=list, blank=True)
    primary_image_url = models.TextField(blank=True)

    location_country = models.CharField(max_length=2, blank=True)
    location_city = models.CharField(max_length=100, blank=True)
    location_lat = models.DecimalField(max_digits=10, decimal_places=8, null=True, blank=True)
    location_lng = models.DecimalField(max_digits=11, decimal_places=8, null=True, blank=True)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    visibility = models.CharField(max_length=20, choices=Visibility.choices, default=Visibility.PUBLIC)
    share_token = models.CharField(
        max_length=32,
        default=new_share_token,
        editable=False,
        help_text="Unguessable part of an unlisted listing's URL.",
    )
    featured = models.BooleanField(default=False)
    featured_until = models.DateTimeField(null=True, blank=True)

    meta_title = models.CharField(max_length=60, blank=True)
    meta_description = models.CharField(max_length=160, blank=True)

    view_count = models.BigIntegerField(default=0)
    favorite_count = models.IntegerField(default=0)
    inquiry_count = models.IntegerField(default=0)

    # Weighted (title A, description B); kept by the listings_search_vector trigger.
    search_vector = SearchVectorField(null=True, editable=False)

    created_at = CreatedAtField()
    updated_at = UpdatedAtField()
    published_at = models.DateTimeField(null=True, blank=True)
    # Staff moderation: when a take-down archived it (restorable by staff only), and the last
    # reason staff gave the seller (a take-down or a declined approval), shown on their dashboard.
    taken_down_at = models.DateTimeField(null=True, blank=True)
    moderation_reason = models.TextField(blank=True, default="", db_default="")  # COPY loads omit it
    sold_at = models.DateTimeField(null=True, blank=True)

    trigger_managed_fields = (
        "view_count",
        "favorite_count",
        "inquiry_count",
        "search_vector",
        "created_at",
        "updated_at",
        "seller_banned",
    )
    # Metres from the searched point, set on the results of a search near a place
    # (listings.search); None on every other listing. A default, so that a card asking for it
    # is not a failed template lookup (each one costs the template engine a dir() of the model).
    distance: float | None = None

    class Meta:
        permissions = [
            ("moderate_listing", "Can take down and restore listings"),
            ("approve_listing", "Can approve and decline listings waiting for approval"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["slug"], name="listings_listing_slug_unique"),
            models.UniqueConstraint(fields=["share_token"], name="listings_listing_share_token_unique"),
            choices_check("status", ListingStatus, "listings_listing_status_valid"),
            choices_check("visibility", ListingVisibility, "listings_listing_visibility_valid"),
            choices_check("pricing_type", PricingType, "listings_listing_pricing_type_valid"),
            currency_check("currency", "listings_listing_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(price_cents__isnull=True) | Q(price_cents__gte=0),
                name="listings_listing_price_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(view_count__gte=0, favorite_count__gte=0, inquiry_count__gte=0),
                name="listings_listing_counters_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(location_lat__isnull=True, location_lng__isnull=True)
                | Q(
                    # Both set: a CHECK that evaluates to NULL passes, so say it outright.
                    location_lat__isnull=False,
                    location_lng__isnull=False,
                    location_lat__gte=-90,
                    location_lat__lte=90,
                    location_lng__gte=-180,
                    location_lng__lte=180,
                ),
                name="listings_listing_location_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["active", "reserved", "sold"]) | Q(published_at__isnull=False),
                name="listings_listing_published_has_published_at",
            ),
            models.CheckConstraint(
                condition=~Q(status="sold") | Q(sold_at__isnull=False),
                name="listings_listing_sold_has_sold_at",
            ),
            models.CheckConstraint(
                condition=jsonb_type_is("attributes", "object"),
                name="listings_listing_attributes_is_object",
            ),
            models.CheckConstraint(
                condition=jsonb_type_is("images", "array") & jsonb_type_is("videos", "array"),
                name="listings_listing_media_are_arrays",
            ),
        ]
        indexes = [
            # Seller's listings, newest first (also the seller_id FK index).
            models.Index(F("seller"), F("created_at").desc(), name="listing_seller_created"),
            # The seller's dashboard: one status, last edited first.
            models.Index(
                F("seller"),
                F("status"),
                F("updated_at").desc(),
                F("id").desc(),
                name="listing_seller_status_updated",
            ),
            # Active listings of a category, newest first (also the category_id FK index).
            models.Index(
                F("category"),
                F("status"),
                F("published_at").desc(),
                name="listing_category_status_pub",
            ),
            # Newest active public listings (home page, sitemap, search by newest).
            models.Index(
                F("published_at").desc(),
                F("id").desc(),
                condition=Q(status="active", visibility="public", seller_banned=False),
                name="listings_listing_active_newest",
            ),
            # Search sorted by price, within a currency (forwards for low-to-high, backwards for
            # high-to-low).
            models.Index(
                F("currency"),
                F("price_cents"),
                F("id"),
                condition=Q(
                    status="active", visibility="public", seller_banned=False, price_cents__isnull=False
                ),
                name="listings_listing_active_price",
            ),
            models.Index(F("created_at").desc(), name="listings_listing_created"),
            models.Index(
                fields=["featured_until"],
                condition=Q(featured=True),
                name="listings_listing_featured",
            ),
            GinIndex(OpClass(F("attributes"), name="jsonb_path_ops"), name="listings_listing_attributes"),
            GinIndex(fields=["search_vector"], name="listings_listing_search"),
            # Best match's candidates (listings.search.ranking): the words of the title, or of
            # the whole document, with the publication day (btree_gin), so that one index scan
            # gives "these words, published in this window". The expressions are
            # ranking.TitleVector and ranking.PublishedDay, inlined (listings.search imports
            # this module).
            GinIndex(
                Func(
                    F("title"),
                    template="to_tsvector('marketplace_search'::regconfig, %(expressions)s)",
                    output_field=SearchVectorField(),
                ),
                Func(F("published_at"), template=PUBLISHED_DAY, output_field=models.DateField()),
                condition=Q(status="active", visibility="public", seller_banned=False),
                name="listings_listing_title_day",
            ),
            GinIndex(
                F("search_vector"),
                Func(F("published_at"), template=PUBLISHED_DAY, output_field=models.DateField()),
                condition=Q(status="active", visibility="public", seller_banned=False),
                name="listings_listing_search_day",
            ),
            # A search's counts and facets within a category (listings.search.facets): one GIN
            # scan intersects "these words" with "this category" (btree_gin), instead of a
            # BitmapAnd of every match of the words with every listing of the category.
            # "search_vector IS NOT NULL" (always true) is implied by a keyword condition and
            # by nothing else, so a search without keywords never takes this index for its
            # category alone (a bitmap of the whole category, slower than the btree).
            GinIndex(
                F("search_vector"),
                F("category"),
                condition=Q(
                    status="active", visibility="public", seller_banned=False, search_vector__isnull=False
                ),
                name="listing_search_category",
            ),
            # Radius search: ll_to_earth(lat, lng) in a GiST index (earthdistance + cube).
            GistIndex(
                Func(
                    models.functions.Cast("location_lat", models.FloatField()),
                    models.functions.Cast("location_lng", models.FloatField()),
                    function="ll_to_earth",
                    output_field=models.Field(),
                ),
                condition=Q(location_lat__isnull=False),
                name="listings_listing_location",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return listing_path(self.slug)


class Favorite(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by the (user, listing) unique constraint.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favorites", db_index=False
    )
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="favorites")
    created_at = CreatedAtField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "listing"], name="listings_favorite_unique"),
        ]
        indexes = [
            models.Index(F("user"), F("created_at").desc(), name="listings_favorite_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ♥ {self.listing_id}"


# What Django's slug converter accepts (``<slug:slug>``) and ``reverse`` leaves unquoted.
_PLAIN_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
_SLUG_MARKER = "slug0marker"


@functools.lru_cache(maxsize=32)
def _listing_path_parts(urlconf, script_prefix: str) -> tuple[str, str]:
    head, tail = reverse("listings:detail", args=[_SLUG_MARKER], urlconf=urlconf).split(_SLUG_MARKER)
    return head, tail


def listing_path(slug: str) -> str:
    """``reverse("listings:detail", args=[slug])`` without resolving the pattern again for each
    listing: a card list reverses one URL per card, 30 µs each (0.7 of the search page's 4.6 ms
    of rendering). The pattern's text around the slug is kept per URLconf and script prefix; a
    slug that is not plain ASCII takes the full ``reverse`` (which quotes or refuses it)."""
    if not _PLAIN_SLUG.fullmatch(slug):
        return reverse("listings:detail", args=[slug])
    head, tail = _listing_path_parts(get_urlconf(), get_script_prefix())
    return f"{head}{slug}{tail}"
