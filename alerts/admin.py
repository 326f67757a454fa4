from django.contrib import admin

from alerts.models import Follow, SavedSearch, SavedSearchMatch, Watermark
from marketplace.admin import ReadOnlyModelAdmin


@admin.register(SavedSearch)
class SavedSearchAdmin(ReadOnlyModelAdmin):
    """Members manage their saved searches; staff read them (support questions)."""

    list_display = ("name", "user", "alert", "query_string", "created_at")
    list_filter = ("alert",)
    list_select_related = ("user",)
    search_fields = ("name", "user__email")
    exclude = ("keywords",)


@admin.register(SavedSearchMatch)
class SavedSearchMatchAdmin(ReadOnlyModelAdmin):
    list_display = ("saved_search", "listing", "created_at", "notified_at")
    list_select_related = ("saved_search", "listing")
    list_filter = (("notified_at", admin.EmptyFieldListFilter),)
    search_fields = ("saved_search__name",)
    show_full_result_count = False


@admin.register(Follow)
class FollowAdmin(ReadOnlyModelAdmin):
    list_display = ("follower", "seller", "alert", "created_at")
    list_select_related = ("follower", "seller")
    list_filter = ("alert",)
    search_fields = ("follower__email", "seller__email")


@admin.register(Watermark)
class WatermarkAdmin(ReadOnlyModelAdmin):
    """How far the periodic alert jobs have read (ops: a stuck watermark means a stuck job)."""

    list_display = ("name", "at")
    list_filter = (("at", admin.DateFieldListFilter),)
    search_fields = ("name",)
