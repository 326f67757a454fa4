from django.contrib import admin

from marketplace.admin import ReadOnlyModelAdmin
from notifications.models import MessageEmail, Notification, NotificationPreference


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
        "key",
        "in_app",
        "read_at",
        "created_at",
    )
    readonly_fields = ("created_at",)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyModelAdmin):
    """Members' choices (they change them on their profile or by an unsubscribe link)."""

    list_display = ("user", "type", "channel", "enabled", "updated_at")
    list_select_related = ("user",)
    list_filter = ("type", "channel", "enabled")
    search_fields = ("=user__email",)
    search_help_text = "An exact member email."
    ordering = ("-updated_at", "-id")
    fields = list_display
    readonly_fields = fields
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


@admin.register(MessageEmail)
class MessageEmailAdmin(ReadOnlyModelAdmin):
    """Which unread messages the digest handled: mailed, or not (the member's choice)."""

    list_display = ("message", "recipient", "mailed", "created_at")
    list_select_related = ("message", "recipient")
    list_filter = ("mailed", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=recipient__email",)
    search_help_text = "An exact recipient email."
    ordering = ("-created_at",)
    fields = list_display
    readonly_fields = fields
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
