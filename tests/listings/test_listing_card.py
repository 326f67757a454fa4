"""The listing card (``{% listing_card %}``) gives the markup of the template it replaced, for
every kind of listing, escaped."""

import pytest
from django.template import Context, Template, engines

from listings.models import Category, Listing

# listings/_listing_card.html as it was, the reference.
REFERENCE = Template(
    '{% load marketplace_tags %}<article class="card">\n'
    '  <a class="card-link" href="{{ listing.get_absolute_url }}">\n'
    '    {% if listing.primary_image_url %}<img class="card-image" src="{{ listing.primary_image_url }}" alt="" loading="lazy" width="320" height="240">{% else %}<div class="card-image card-image-empty" aria-hidden="true"></div>{% endif %}\n'  # noqa: E501
    '    <h3 class="card-title">{{ listing.title }}</h3>\n'
    "  </a>\n"
    '  <p class="card-price">{{ listing.price_cents|money:listing.currency }}{% if listing.pricing_type == "hourly" %} / hour{% elif listing.pricing_type == "negotiable" %} <span class="muted">(negotiable)</span>{% endif %}</p>\n'  # noqa: E501
    '  <p class="card-meta muted">{% if listing.location_city %}{{ listing.location_city }} · {% endif %}{{ listing.category.name }}{% if listing.distance is not None %} · {{ listing.distance|floatformat:0|default:"0" }} m{% endif %}</p>\n'  # noqa: E501
    '  {% if listing.status != "active" %}<p class="badge badge-{{ listing.status }}">{{ listing.get_status_display }}</p>{% endif %}\n'  # noqa: E501
    "</article>\n"
)
CARD = engines["django"].from_string("{% load listing_cards %}{% listing_card listing %}")
CATEGORY = Category(name="Desks & <Tables>", slug="desks")


def listing(**fields) -> Listing:
    values = {
        "slug": "oak-desk-1",
        "title": "Oak desk",
        "price_cents": 12550,
        "currency": "USD",
        "pricing_type": "fixed",
        "primary_image_url": "",
        "location_city": "",
        "status": "active",
        "category": CATEGORY,
    }
    values.update(fields)
    distance = values.pop("distance", None)
    made = Listing(**values)
    if distance is not None:
        made.distance = distance
    return made


CASES = [
    {},
    {"primary_image_url": "https://img.example/a.jpg?x=1&y=<2>"},
    {"title": "Tom & \"Jerry\" <script>alert(1)</script> 'quoted'"},
    {"location_city": "Saint-Étienne & Co"},
    {"price_cents": None},
    {"pricing_type": "hourly"},
    {"pricing_type": "negotiable", "currency": "EUR"},
    {"currency": "JPY", "price_cents": 1234567},
    {"currency": "XTS", "price_cents": 5},
    {"status": "sold"},
    {"status": "reserved", "location_city": "Paris"},
    {"status": "draft"},
    {"distance": 0.0},
    {"distance": 0.4},
    {"distance": 2.5},
    {"distance": 1234.5, "location_city": "Lyon"},
    {"distance": 98765.4321},
]


@pytest.mark.parametrize("fields", CASES, ids=[repr(case) for case in CASES])
def test_the_card_is_the_templates_markup(fields):
    card = listing(**fields)
    assert CARD.render({"listing": card}) == REFERENCE.render(Context({"listing": card}))


def test_the_card_escapes_what_it_shows():
    html = CARD.render({"listing": listing(title="<script>x</script>", location_city="<b>", status="sold")})
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "Desks &amp; &lt;Tables&gt;" in html
