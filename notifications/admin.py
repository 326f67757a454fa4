from django.contrib import admin

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "type", "read_at", "created_at")
    list_select_related = ("user",)
    list_filter = (
        "type",
        ("read_at", admin.EmptyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("title", "=user__email")
    search_help_text = "Part of the title, or an exact recipient email."
    ordering = ("-created_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    autocomplete_fields = ("user",)
    fields = (
        "user",
        "type",
        "title",
        "message",
        "link_url",
        "link_text",
        "metadata",
        "read_at",
        "created_at",
    )
    readonly_fields = ("created_at",)
