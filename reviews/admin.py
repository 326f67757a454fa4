"""Staff pages for reviews. Reviews are written by the parties through the reviews services and
never edited here: staff remove, restore, feature or unfeature them with admin actions that ask
for a reason and call ``reviews.services.review_moderate`` (recorded as ``ReviewModeration``)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse

from marketplace.admin import ReadOnlyModelAdmin
from marketplace.errors import ServiceError
from reviews.models import ModerationAction, Review, ReviewFlag, ReviewModeration
from reviews.services import review_moderate

MODERATE_TEMPLATE = "admin/reviews/review/moderate.html"

EXPLANATIONS = {
    ModerationAction.REMOVE: "Removed reviews are hidden from everyone but their author and no longer count "
    "in ratings. Their open flags are resolved.",
    ModerationAction.RESTORE: "Restored reviews are active again (shown and counted once published); an "
    "active review keeps its place and its open flags are dismissed.",
    ModerationAction.FEATURE: "Featured reviews are shown first on the reviewee's profile.",
    ModerationAction.UNFEATURE: "Unfeatured reviews take their usual place again.",
}


class ModerationReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        max_length=1000,
        help_text="Required. Recorded with the decision.",
        error_messages={"required": "Give a reason: nothing was changed."},
    )


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


class FlaggedListFilter(admin.SimpleListFilter):
    """Reviews with flags no staff member has acted on yet: the moderation queue."""

    title = "flags"
    parameter_name = "flags"

    def lookups(self, request, model_admin):
        return [("open", "Open flags"), ("any", "Flagged at any time")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(flags__resolved_at__isnull=True).distinct()
        if self.value() == "any":
            return queryset.filter(flag_count__gt=0)
        return queryset


class ReviewFlagInline(admin.TabularInline):
    model = ReviewFlag
    extra = 0
    can_delete = False
    fields = ("member", "reason", "text", "created_at", "resolved_at")
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


class ReviewModerationInline(admin.TabularInline):
    model = ReviewModeration
    extra = 0
    can_delete = False
    fields = ("created_at", "actor", "action", "reason")
    readonly_fields = fields
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = (
        "summary",
        "reviewer",
        "reviewee",
        "reviewer_type",
        "listing",
        "status",
        "published_at",
        "flag_count",
        "is_featured",
        "created_at",
    )
    list_display_links = ("summary",)
    list_select_related = ("reviewer", "reviewee", "listing")
    list_filter = (
        "status",
        FlaggedListFilter,
        "reviewer_type",
        RatingListFilter,
        "is_verified",
        "is_featured",
    )
    search_fields = ("title", "comment", "=reviewer__email", "=reviewee__email")
    search_help_text = "Part of the title or comment, or an exact reviewer or reviewee email."
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ("remove_reviews", "restore_reviews", "feature_reviews", "unfeature_reviews")
    inlines = (ReviewFlagInline, ReviewModerationInline)
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
        (
            "Moderation",
            {
                "fields": (
                    "status",
                    "published_at",
                    "window_closes_at",
                    "flag_count",
                    "is_verified",
                    "is_featured",
                )
            },
        ),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )
    # Everything: reviews change only through the services (the authors' pages, the actions here).
    readonly_fields = (
        "transaction",
        "listing",
        "reviewer",
        "reviewee",
        "reviewer_type",
        "rating",
        "rating_communication",
        "rating_quality",
        "rating_delivery",
        "title",
        "comment",
        "response",
        "responded_at",
        "status",
        "published_at",
        "window_closes_at",
        "flag_count",
        "is_verified",
        "is_featured",
        "created_at",
        "updated_at",
    )

    @admin.display(description="Review", ordering="rating")
    def summary(self, obj: Review) -> str:
        return f"{'★' * obj.rating} {obj.title}".strip()

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # remove instead: the record and the rating stay consistent, with a reason

    @admin.action(description="Remove selected reviews…", permissions=["change"])
    def remove_reviews(self, request, queryset):
        return self._moderate(request, queryset, ModerationAction.REMOVE)

    @admin.action(description="Restore selected reviews…", permissions=["change"])
    def restore_reviews(self, request, queryset):
        return self._moderate(request, queryset, ModerationAction.RESTORE)

    @admin.action(description="Feature selected reviews…", permissions=["change"])
    def feature_reviews(self, request, queryset):
        return self._moderate(request, queryset, ModerationAction.FEATURE)

    @admin.action(description="Unfeature selected reviews…", permissions=["change"])
    def unfeature_reviews(self, request, queryset):
        return self._moderate(request, queryset, ModerationAction.UNFEATURE)

    def _moderate(self, request, queryset, action: ModerationAction):
        reviews = list(queryset.order_by("-created_at"))
        form = ModerationReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = 0
            for review in reviews:
                try:
                    review_moderate(
                        review=review, actor=request.user, action=action, reason=form.cleaned_data["reason"]
                    )
                except ServiceError as error:
                    self.message_user(request, f"{review}: {error.message}", messages.ERROR)
                else:
                    done += 1
            if done:
                self.message_user(
                    request,
                    f"{done} review{'s' if done != 1 else ''}: {action.label.lower()}d.",
                    messages.SUCCESS,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{action.label} {len(reviews)} review{'s' if len(reviews) != 1 else ''}",
            "verb": action.label,
            "explanation": EXPLANATIONS[action],
            "reviews": reviews,
            "form": form,
            "hidden": [("action", f"{action.value}_reviews")]
            + [(ACTION_CHECKBOX_NAME, review.pk) for review in reviews],
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, MODERATE_TEMPLATE, context)


@admin.register(ReviewModeration)
class ReviewModerationAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "review", "action", "actor", "reason")
    list_select_related = ("review", "actor")
    list_filter = ("action",)
    search_fields = ("reason", "=actor__email")
    search_help_text = "Part of the reason, or the exact email of the staff member."
    ordering = ("-created_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = ("review", "actor", "action", "reason", "created_at")


@admin.register(ReviewFlag)
class ReviewFlagAdmin(ReadOnlyModelAdmin):
    """Members' reports, read-only: staff act on the review itself (remove or restore resolves them)."""

    list_display = ("created_at", "review", "member", "reason", "resolved_at")
    list_select_related = ("review", "member")
    list_filter = ("reason",)
    search_fields = ("text", "=member__email")
    search_help_text = "Part of the flag's text, or the exact email of the member."
    ordering = ("-created_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = ("review", "member", "reason", "text", "resolved_at", "created_at")
