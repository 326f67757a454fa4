from django.contrib import admin

from marketplace.admin import ReadOnlyModelAdmin
from privacy.models import DataExport


@admin.register(DataExport)
class DataExportAdmin(ReadOnlyModelAdmin):
    """What was handed out to whom and when (the file itself is never shown here)."""

    list_display = ("id", "user", "status", "created_at", "ready_at", "expires_at", "size_bytes")
    list_filter = ("status",)
    list_select_related = ("user",)
    readonly_fields = ("id", "user", "status", "file", "size_bytes", "created_at", "ready_at", "expires_at")
    raw_id_fields = ("user",)
    search_fields = ("user__email",)
    show_full_result_count = False  # one COUNT per page, not two
    date_hierarchy = "created_at"
