from django import template
from django.http import QueryDict

from marketplace.money import amount_text, format_amount

register = template.Library()


@register.filter
def money(cents, currency):
    """``{{ listing.price_cents|money:listing.currency }}`` -> ``$45.99``."""
    return format_amount(cents, currency)


@register.filter
def amount_input(cents, currency):
    """``{{ floor_cents|amount_input:listing.currency }}`` -> ``45.99``: as typed in a form."""
    return amount_text(cents, currency)


@register.simple_tag(takes_context=True)
def query_with(context, **changes):
    """The current query string with some parameters replaced (``None`` or ``""`` removes one)."""
    query: QueryDict = context["request"].GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            query.pop(key, None)
        else:
            query[key] = value
    return query.urlencode()
