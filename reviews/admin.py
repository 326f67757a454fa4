from django.contrib import admin

from reviews.models import Review


class RatingListFilter(admin.SimpleListFilter):
    """1 to 5 stars, without the ``SELECT DISTINCT rating`` a plain field filter would run."""

    title = "rating"
    parameter_name = "rating"

    def lookups(self, request, model_admin):
        return [(str(stars), "★" * stars) for stars in range(5, 0, -1)]

    def queryset(self, request, queryset):
        if self.value() in {str(stars) for stars in range(1, 6)}:
            return queryset.filter(rating=int(self.value()))
        return queryset


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    """Reviews are written by the parties through the reviews service, never added here.

    Staff may edit the text and the status; the ratings trigger keeps user ratings exact
    whatever changes. Who wrote it, about whom and for which transaction stay fixed.
    """

    list_display = (
        "summary",
        "reviewer",
        "reviewee",
        "reviewer_type",
        "listing",
        "status",
        "is_verified",
        "is_featured",
        "created_at",
    )
    list_display_links = ("summary",)
    list_select_related = ("reviewer", "reviewee", "listing")
    list_filter = ("status", "reviewer_type", RatingListFilter, "is_verified", "is_featured")
    search_fields = ("title", "comment", "=reviewer__email", "=reviewee__email")
    search_help_text = "Part of the title or comment, or an exact reviewer or reviewee email."
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fieldsets = (
        (None, {"fields": ("transaction", "listing", "reviewer", "reviewee", "reviewer_type")}),
        (
            "Review",
            {
                "fields": (
                    "rating",
                    ("rating_communication", "rating_quality", "rating_delivery"),
                    "title",
                    "comment",
                )
            },
        ),
        ("Response", {"fields": ("response", "responded_at")}),
        ("Moderation", {"fields": ("status", "is_verified", "is_featured")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "transaction",
        "listing",
        "reviewer",
        "reviewee",
        "reviewer_type",
        "created_at",
        "updated_at",
    )

    @admin.display(description="Review", ordering="rating")
    def summary(self, obj: Review) -> str:
        return f"{'★' * obj.rating} {obj.title}".strip()

    def has_add_permission(self, request):
        return False
