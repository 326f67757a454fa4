from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import Q

from listings.models import Category, Favorite, Listing
from listings.moderation import (
    APPROVE_PERMISSION,
    MODERATE_PERMISSION,
    listing_approve,
    listing_decline,
    listing_restore,
    listing_take_down,
)
from listings.services import category_tree_changed, listing_attributes_validate
from marketplace.admin import EstimatedCountPaginator, ReasonAction, reason_action
from marketplace.errors import ServiceError
from marketplace.money import below_minimum_charge, format_amount, minimum_charge_message


class CurrencyListFilter(admin.SimpleListFilter):
    """The configured currencies, not a ``SELECT DISTINCT currency`` over the whole table."""

    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        return [(code, code) for code in settings.CURRENCIES]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(currency=self.value())
        return queryset


def currency_formfield(**kwargs) -> forms.ChoiceField:
    return forms.ChoiceField(choices=[(code, code) for code in settings.CURRENCIES], **kwargs)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "parent", "sort_order", "icon")
    list_select_related = ("parent",)
    list_filter = (("parent", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("name", "slug")
    ordering = ("sort_order", "name")
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "parent", "icon", "sort_order", "attribute_schema", "created_at")
    readonly_fields = ("created_at",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        category_tree_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        category_tree_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        category_tree_changed()


class ListingAdminForm(forms.ModelForm):
    """Staff edits obey the editor's price rule: a fixed price the payment provider can charge."""

    def clean(self):
        cleaned = super().clean()
        price, currency = cleaned.get("price_cents"), cleaned.get("currency")
        if (
            cleaned.get("pricing_type") == Listing.PricingType.FIXED
            and currency
            and below_minimum_charge(price, currency)
        ):
            self.add_error("price_cents", minimum_charge_message(currency))
        self._clean_attributes(cleaned)
        return cleaned

    def _clean_attributes(self, cleaned: dict) -> None:
        """The details through the one check of every write path, against the (new) category's
        schema; unambiguous spellings typed by hand in the JSON box ("11" for a number) are
        stored typed, anything else is refused with the editor's message."""
        category = cleaned.get("category")
        if category is None or "attributes" not in cleaned:
            return  # the field's own error (required, invalid JSON) is already shown
        try:
            cleaned["attributes"] = listing_attributes_validate(
                category_id=category.pk, attributes=cleaned["attributes"], coerce=True
            )
        except ServiceError as error:
            self.add_error("attributes", error.message)


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    form = ListingAdminForm
    list_display = (
        "title",
        "seller",
        "category",
        "status",
        "visibility",
        "price",
        "featured",
        "view_count",
        "favorite_count",
        "inquiry_count",
        "published_at",
    )
    list_select_related = ("seller", "category")
    list_filter = (
        "status",
        "visibility",
        "pricing_type",
        "featured",
        CurrencyListFilter,
        "category",
        ("published_at", admin.DateFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("title", "=slug", "=seller__email")
    search_help_text = "Part of the title, or an exact slug or seller email."

    def get_search_results(self, request, queryset, search_term):
        """One indexed lookup per shape of term, never an OR across the seller join (which
        would scan every listing): an email finds the seller's listings; anything else, part of
        the title (the ``listings_listing_title_trgm`` trigram index) or the exact slug (its
        unique index), as one BitmapOr."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            return queryset.filter(seller__email__iexact=term), False
        return queryset.filter(Q(title__icontains=term) | Q(slug=term.lower())), False

    ordering = ("-created_at",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # the unfiltered list: the planner's estimate, no COUNT(*)
    show_facets = admin.ShowFacets.NEVER
    autocomplete_fields = ("seller",)
    prepopulated_fields = {"slug": ("title",)}
    fieldsets = (
        (None, {"fields": ("seller", "category", "title", "slug", "description")}),
        ("Price", {"fields": ("price_cents", "currency", "pricing_type")}),
        ("Details", {"fields": ("attributes", "images", "videos", "primary_image_url")}),
        (
            "Location",
            {"fields": ("location_country", "location_city", ("location_lat", "location_lng"))},
        ),
        (
            "Status",
            {
                "fields": (
                    "status",
                    "visibility",
                    "share_token",
                    ("featured", "featured_until"),
                    "published_at",
                    "sold_at",
                    "taken_down_at",
                    "moderation_reason",
                )
            },
        ),
        ("Search engines", {"classes": ("collapse",), "fields": ("meta_title", "meta_description")}),
        (
            "Kept by the database",
            {
                "classes": ("collapse",),
                "fields": (
                    ("view_count", "favorite_count", "inquiry_count"),
                    "search_vector",
                    "created_at",
                    "updated_at",
                ),
            },
        ),
    )
    # The lifecycle (publish, reserve, sell, archive) belongs to the listing and
    # transaction services: a reserved or sold listing is tied to a live transaction.
    readonly_fields = (
        *Listing.trigger_managed_fields,
        "status",
        "published_at",
        "sold_at",
        "share_token",
        "taken_down_at",
        "moderation_reason",
    )

    @admin.display(description="Price", ordering="price_cents")
    def price(self, obj: Listing) -> str:
        return format_amount(obj.price_cents, obj.currency)

    # --- Moderation: each through listings.moderation, with a reason, one audit row each ---
    actions = ("take_down_listings", "restore_listings", "approve_listings", "decline_listings")

    def has_moderate_permission(self, request) -> bool:
        return request.user.has_perm(MODERATE_PERMISSION)

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm(APPROVE_PERMISSION)

    @admin.action(description="Take down selected listings…", permissions=["moderate"])
    def take_down_listings(self, request, queryset):
        return reason_action(self, request, queryset, LISTING_ACTIONS["take_down"])

    @admin.action(description="Restore selected taken-down listings…", permissions=["moderate"])
    def restore_listings(self, request, queryset):
        return reason_action(self, request, queryset, LISTING_ACTIONS["restore"])

    @admin.action(description="Approve selected listings…", permissions=["approve"])
    def approve_listings(self, request, queryset):
        return reason_action(self, request, queryset, LISTING_ACTIONS["approve"])

    @admin.action(description="Decline selected listings…", permissions=["approve"])
    def decline_listings(self, request, queryset):
        return reason_action(self, request, queryset, LISTING_ACTIONS["decline"])

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "currency":
            return currency_formfield(initial=settings.DEFAULT_CURRENCY, label="Currency")
        return super().formfield_for_dbfield(db_field, request, **kwargs)


LISTING_ACTIONS = {
    "take_down": ReasonAction(
        "take_down_listings",
        "Take down",
        "taken down",
        "The listing leaves the site at once (archived, out of search, its cached page retired). The "
        "seller is notified and sees the reason on their dashboard.",
        lambda listing, actor, reason: listing_take_down(listing=listing, actor=actor, reason=reason),
    ),
    "restore": ReasonAction(
        "restore_listings",
        "Restore",
        "restored",
        "A taken-down listing comes back (active if it had been published). The seller is notified.",
        lambda listing, actor, reason: listing_restore(listing=listing, actor=actor, reason=reason),
    ),
    "approve": ReasonAction(
        "approve_listings",
        "Approve",
        "approved",
        "The listing goes live. The seller is notified.",
        lambda listing, actor, reason: listing_approve(listing=listing, actor=actor, reason=reason),
    ),
    "decline": ReasonAction(
        "decline_listings",
        "Decline",
        "declined",
        "The listing goes back to the seller's drafts; they see the reason on their dashboard.",
        lambda listing, actor, reason: listing_decline(listing=listing, actor=actor, reason=reason),
    ),
}


@admin.register(Favorite)
class FavoriteAdmin(admin.ModelAdmin):
    list_display = ("user", "listing", "created_at")
    list_select_related = ("user", "listing")
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("=user__email", "listing__title")
    search_help_text = "An exact user email, or part of the listing title."
    ordering = ("-created_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    autocomplete_fields = ("user", "listing")
    readonly_fields = ("created_at",)

    # A favorite is a fact (this user likes that listing): added or deleted, never edited.
    def has_change_permission(self, request, obj=None):
        return False
