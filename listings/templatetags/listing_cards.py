"""``{% listing_card listing %}``: a listing's card in the results grid, built in Python.

It was the ``listings/_listing_card.html`` include: 40 µs a card in the template engine, a
millisecond of each results page's rendering (24 cards), against 8 µs here
(bench/README.md, "Sixth session"). The markup is the template's, pinned by
tests/listings/test_listing_card.py, which renders the old template beside this for many
kinds of listing. Every value is escaped as autoescaping would.
"""

from django import template
from django.template.defaultfilters import floatformat
from django.utils.safestring import SafeString, mark_safe

from marketplace.money import format_amount
from marketplace.widgets import escape_value as _escape

register = template.Library()

PRICE_SUFFIX = {"hourly": " / hour", "negotiable": ' <span class="muted">(negotiable)</span>'}


@register.simple_tag
def listing_card(listing) -> SafeString:
    """The card of ``listing``: a Listing with at least the search's ``CARD_FIELDS`` and its
    category loaded (``distance`` in metres when the search was near a place)."""
    if listing.primary_image_url:
        image = (
            f'<img class="card-image" src="{_escape(listing.primary_image_url)}" alt="" '
            'loading="lazy" width="320" height="240">'
        )
    else:
        image = '<div class="card-image card-image-empty" aria-hidden="true"></div>'
    meta = f"{_escape(listing.location_city)} · " if listing.location_city else ""
    meta += _escape(listing.category.name)
    if listing.distance is not None:
        meta += f" · {_escape(floatformat(listing.distance, 0) or '0')} m"
    badge = ""
    if listing.status != "active":
        badge = (
            f'<p class="badge badge-{_escape(listing.status)}">{_escape(listing.get_status_display())}</p>'
        )
    return mark_safe(  # noqa: S308 - every value went through _escape
        '<article class="card">\n'
        f'  <a class="card-link" href="{_escape(listing.get_absolute_url())}">\n'
        f"    {image}\n"
        f'    <h3 class="card-title">{_escape(listing.title)}</h3>\n'
        "  </a>\n"
        f'  <p class="card-price">{_escape(format_amount(listing.price_cents, listing.currency))}'
        f"{PRICE_SUFFIX.get(listing.pricing_type, '')}</p>\n"
        f'  <p class="card-meta muted">{meta}</p>\n'
        f"  {badge}\n"
        "</article>\n"
    )
