"""``{% filter_field field %}``: one field of the search page's filter form, built in Python.

It was an include of ``listings/_filter_field.html`` per field: eleven on every results page,
about 40 µs each in the template engine (bench/README.md, "Seventh session"). Inputs and
selects (every field but the category details' checkboxes) are written here with the
template's markup, pinned by tests/listings/test_filter_field.py, which renders the template
beside this for every field of valid and invalid forms; checkboxes still go through the
template. Every value is escaped as autoescaping would.
"""

from django import template
from django.template.loader import get_template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

TEMPLATE = "listings/_filter_field.html"


@register.simple_tag
def filter_field(field) -> SafeString:
    """The markup of ``listings/_filter_field.html`` for the bound field ``field``."""
    if field.widget_type in ("checkboxselectmultiple", "checkbox"):
        return get_template(TEMPLATE).render({"field": field})
    errors = field.errors
    error = ""
    if errors:
        joined = " ".join(conditional_escape(message) for message in errors)
        error = f'<p class="error" id="{conditional_escape(field.auto_id)}_error">{joined}</p>'
    return mark_safe(  # noqa: S308 - every value went through conditional_escape
        f'<div class="field{" field-invalid" if errors else ""}">\n'
        "  \n"
        f'    <label for="{conditional_escape(field.id_for_label)}">{conditional_escape(field.label)}</label>'
        f"{conditional_escape(field)}\n"
        "  \n"
        f"  {error}\n"
        "</div>\n"
    )
