"""The staff dashboard page in the admin (``/admin/dashboard/``, linked from the admin index)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from analytics.selectors import conversion_funnel, zero_result_searches
from moderation.charts import bar_chart_svg
from moderation.dashboard import WINDOWS, dashboard_cached

PERMISSION = "marketplace.view_staff_dashboard"


def staff_dashboard(request):
    """Vital signs over the last 30 or 90 days (``?days=90``): charts and tables. Needs
    ``marketplace.view_staff_dashboard`` (every staff group has it), else 403."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    try:
        days = int(request.GET.get("days", WINDOWS[0]))
    except ValueError:
        days = WINDOWS[0]
    if days not in WINDOWS:
        days = WINDOWS[0]
    board = dashboard_cached()
    counts = [series.last(days) for series in board.counts.values()]
    money = [
        (currency, [series.last(days) for series in figures.values()])
        for currency, figures in board.money.items()
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Staff dashboard",
        "days": days,
        "windows": WINDOWS,
        "board": board,
        "counts": [(series, bar_chart_svg(series)) for series in counts],
        "money": [
            (currency, [(series, bar_chart_svg(series)) for series in figures]) for currency, figures in money
        ],
        "top_categories": board.top_categories,
        "zero_result_searches": zero_result_searches(days=days, limit=20),
        "funnel": conversion_funnel(days=days),
    }
    return TemplateResponse(request, "admin/staff_dashboard.html", context)
