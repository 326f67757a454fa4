from django.contrib import admin

from analytics.models import Event
from marketplace.admin import EstimatedCountPaginator, ReadOnlyModelAdmin


@admin.register(Event)
class EventAdmin(ReadOnlyModelAdmin):
    """Read-only window on the partitioned events table (written by the analytics service).

    Filters are on ``created_at`` ranges, which prune partitions; a date hierarchy would
    scan every partition to list the years and months, and a filter by distinct name or
    category would too.
    """

    list_display = ("event_name", "event_category", "user", "page_url", "ip_address", "created_at")
    list_select_related = ("user",)
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("=event_name", "=event_category", "=user__email")
    search_help_text = "An exact event name or category, or an exact user email."
    ordering = ("-created_at",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator  # no exact COUNT(*) over every partition
    show_facets = admin.ShowFacets.NEVER
    fields = (
        "created_at",
        "event_name",
        "event_category",
        "user",
        "session_id",
        "page_url",
        "referrer_url",
        "user_agent",
        "ip_address",
        "properties",
        "uid",
    )
    readonly_fields = fields
