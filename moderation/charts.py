"""Server-rendered SVG bar charts for the staff dashboard: no script, no external file, and
no inline CSS (SVG presentation attributes only, so the Content-Security-Policy holds).

Readable without colour: one series per chart, its name in the title, the axis labelled with
the largest value and the first and last day, each bar carrying its day and value as a
tooltip (``<title>``) and the whole chart a text alternative (``aria-label``). The page shows
the same numbers in a table too.
"""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from marketplace.money import format_amount

WIDTH, HEIGHT = 640, 170
LEFT, BOTTOM, TOP = 64, 22, 10


def _label(value: int, unit: str) -> str:
    return f"{value:,}" if unit == "count" else format_amount(value, unit)


def bar_chart_svg(series) -> SafeString:
    """``series`` (``moderation.dashboard.Series``) as an SVG bar chart, one bar per day."""
    values = series.values
    top = max(values + [0]) or 1
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = plot_w / max(len(values), 1)
    bar_w = max(step * 0.8, 1)
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#2f5d8a" stroke="#1b3550" '
        'stroke-width="0.5"><title>{}: {}</title></rect>',
        (
            (
                f"{LEFT + i * step + (step - bar_w) / 2:.1f}",
                f"{TOP + plot_h - (value / top) * plot_h:.1f}",
                f"{bar_w:.1f}",
                f"{(value / top) * plot_h:.1f}",
                day.isoformat(),
                _label(value, series.unit),
            )
            for i, (day, value) in enumerate(zip(series.days, values, strict=True))
        ),
    )
    first, last = (series.days[0].isoformat(), series.days[-1].isoformat()) if series.days else ("", "")
    summary = (
        f"{series.name} per day from {first} to {last}: total {_label(series.total, series.unit)}, "
        f"highest day {_label(max(values + [0]), series.unit)}."
    )
    return format_html(
        '<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="100%" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#000" stroke-width="1"/>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#000" stroke-width="1"/>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-width="0.5" stroke-dasharray="4 3"/>'
        '<text x="{}" y="{}" text-anchor="end" font-size="11">{}</text>'
        '<text x="{}" y="{}" text-anchor="end" font-size="11">0</text>'
        '<text x="{}" y="{}" font-size="11">{}</text>'
        '<text x="{}" y="{}" text-anchor="end" font-size="11">{}</text>'
        "{}</svg>",
        summary,
        WIDTH,
        HEIGHT,
        summary,
        LEFT,
        TOP,
        LEFT,
        TOP + plot_h,  # y axis
        LEFT,
        TOP + plot_h,
        WIDTH - 8,
        TOP + plot_h,  # x axis
        LEFT,
        TOP,
        WIDTH - 8,
        TOP,  # the top value's grid line
        LEFT - 4,
        TOP + 10,
        _label(top if max(values + [0]) else 0, series.unit),
        LEFT - 4,
        TOP + plot_h,
        LEFT,
        HEIGHT - 6,
        first,
        WIDTH - 8,
        HEIGHT - 6,
        last,
        bars,
    )
