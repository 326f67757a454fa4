"""Listing search: keywords, category subtree, typed attribute filters, price, radius,
sorting, keyset pagination and facet counts.

Everything a visitor can ask for is a GET parameter parsed by ``SearchForm``; invalid input
becomes a form error, never a 500. ``run_search`` issues a fixed number of queries whatever
the page size: the page, the capped total, the category facet and the attribute facet.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.core import signing
from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, F, Field, FloatField, Func, Q, QuerySet, Value
from django.db.models.functions import Cast
from django.db.models.lookups import LessThanOrEqual

from listings.cities import CITIES, CITIES_BY_SLUG
from listings.models import Listing, PricingType
from listings.selectors import CATEGORY_TREE_VERSION_KEY, CategoryNode, category_tree, public_listings
from marketplace.money import parse_amount

PAGE_SIZE = 24
# Counts stop at this many matching rows, so a broad search stays within its budget.
COUNT_CAP = settings.SEARCH_COUNT_CAP
FACETS_TTL = settings.SEARCH_FACETS_TTL
MAX_RADIUS_KM = 20_000
WORD = re.compile(r"^\w+$")
CURSOR_SALT = "listings.search.cursor"

SORTS = {
    "relevance": "Best match",
    "newest": "Newest",
    "price_asc": "Price: low to high",
    "price_desc": "Price: high to low",
    "distance": "Distance",
}
# Sort key (column or annotation) and direction; ties are broken by id in the same direction,
# so one index (key, id) serves both a sort and its reverse.
SORT_KEYS = {
    "relevance": ("rank", "desc"),
    "newest": ("published_at", "desc"),
    "price_asc": ("price_cents", "asc"),
    "price_desc": ("price_cents", "desc"),
    "distance": ("distance_key", "asc"),
}
PRICE_SORTS = ("price_asc", "price_desc")
# What a result card shows; the page query reads nothing else (no description, no vector).
CARD_FIELDS = (
    "id",
    "slug",
    "title",
    "price_cents",
    "currency",
    "pricing_type",
    "primary_image_url",
    "location_city",
    "status",
    "published_at",
    "category__id",
    "category__name",
    "category__slug",
)


def attribute_schema_for(node: CategoryNode | None) -> list[dict]:
    """The category's attributes, its ancestors' first (children may add their own)."""
    if node is None:
        return []
    tree = category_tree()
    schema, seen = [], set()
    for category in [*tree.ancestors(node), node]:
        for attribute in category.attribute_schema:
            if attribute.get("key") not in seen:
                seen.add(attribute.get("key"))
                schema.append(attribute)
    return schema


class SearchForm(forms.Form):
    q = forms.CharField(label="Keywords", max_length=200, required=False)
    category = forms.CharField(label="Category", max_length=100, required=False, widget=forms.Select)
    min_price = forms.CharField(label="Min price", max_length=20, required=False)
    max_price = forms.CharField(label="Max price", max_length=20, required=False)
    currency = forms.ChoiceField(label="Currency", required=False)
    pricing_type = forms.ChoiceField(
        label="Pricing", required=False, choices=[("", "Any")] + list(PricingType.choices)
    )
    near = forms.ChoiceField(label="Near", required=False)
    lat = forms.DecimalField(
        label="Latitude", required=False, min_value=-90, max_value=90, max_digits=10, decimal_places=7
    )
    lng = forms.DecimalField(
        label="Longitude", required=False, min_value=-180, max_value=180, max_digits=11, decimal_places=7
    )
    radius_km = forms.IntegerField(label="Within (km)", required=False, min_value=1, max_value=MAX_RADIUS_KM)
    sort = forms.ChoiceField(label="Sort by", required=False, choices=list(SORTS.items()))
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.tree = category_tree()
        self.fields["category"].widget.choices = [("", "All categories")] + [
            (node.slug, ("\u2003" * depth) + node.name) for node, depth in self._walk(self.tree.roots, 0)
        ]
        self.fields["currency"].choices = [(code, code) for code in settings.CURRENCIES]
        self.fields["near"].choices = [("", "Anywhere")] + [(city.slug, city.name) for city in CITIES]
        slug = (data or {}).get("category") or ""
        self.category_node = self.tree.by_slug.get(slug)
        self.attribute_schema = attribute_schema_for(self.category_node)
        for attribute in self.attribute_schema:
            self._add_attribute_fields(attribute)

    @classmethod
    def _walk(cls, nodes, depth):
        for node in nodes:
            yield node, depth
            yield from cls._walk(node.children, depth + 1)

    def _add_attribute_fields(self, attribute: dict) -> None:
        key, label, kind = attribute["key"], attribute["label"], attribute["type"]
        unit = f" ({attribute['unit']})" if attribute.get("unit") else ""
        if kind == "enum":
            self.fields[f"attr_{key}"] = forms.MultipleChoiceField(
                label=label,
                required=False,
                choices=[(option, option) for option in attribute["options"]],
                widget=forms.CheckboxSelectMultiple,
            )
        elif kind == "number":
            for bound in ("min", "max"):
                self.fields[f"attr_{key}_{bound}"] = forms.DecimalField(
                    label=f"{label} {bound}{unit}",
                    required=False,
                    max_digits=20,
                    decimal_places=6,
                    min_value=Decimal("-1e12"),
                    max_value=Decimal("1e12"),
                )
        elif kind == "boolean":
            self.fields[f"attr_{key}"] = forms.BooleanField(label=label, required=False)

    def clean_category(self):
        slug = self.cleaned_data["category"]
        if slug and slug not in self.tree.by_slug:
            raise forms.ValidationError("Choose a category from the list.")
        return slug

    def clean(self):
        cleaned = super().clean()
        currency = cleaned.get("currency") or settings.DEFAULT_CURRENCY
        cleaned["currency"] = currency
        for name in ("min_price", "max_price"):
            text = cleaned.get(name)
            cleaned[f"{name}_cents"] = None
            if text:
                try:
                    cleaned[f"{name}_cents"] = parse_amount(text, currency)
                except ValueError as error:
                    self.add_error(name, str(error))
        low, high = cleaned.get("min_price_cents"), cleaned.get("max_price_cents")
        if low is not None and high is not None and low > high:
            self.add_error("max_price", "The maximum price is below the minimum.")
        for attribute in self.attribute_schema:
            if attribute["type"] == "number":
                low = cleaned.get(f"attr_{attribute['key']}_min")
                high = cleaned.get(f"attr_{attribute['key']}_max")
                if low is not None and high is not None and low > high:
                    self.add_error(f"attr_{attribute['key']}_max", "The maximum is below the minimum.")

        has_point = cleaned.get("lat") is not None or cleaned.get("lng") is not None
        if has_point and (cleaned.get("lat") is None or cleaned.get("lng") is None):
            self.add_error("lng", "Give both latitude and longitude.")
        if cleaned.get("near"):
            city = CITIES_BY_SLUG[cleaned["near"]]
            cleaned["point"] = (city.lat, city.lng)
        elif cleaned.get("lat") is not None and cleaned.get("lng") is not None:
            cleaned["point"] = (float(cleaned["lat"]), float(cleaned["lng"]))
        else:
            cleaned["point"] = None
        if cleaned["point"] and not cleaned.get("radius_km"):
            cleaned["radius_km"] = 50

        sort = cleaned.get("sort") or ("relevance" if (cleaned.get("q") or "").strip() else "newest")
        if sort == "relevance" and not (cleaned.get("q") or "").strip():
            sort = "newest"
        if sort == "distance" and not cleaned["point"]:
            self.add_error("sort", "Choose a place to sort by distance.")
        cleaned["sort"] = sort

        cursor = cleaned.get("cursor")
        cleaned["after"] = None
        if cursor:
            try:
                after = signing.loads(cursor, salt=CURSOR_SALT)
            except signing.BadSignature:
                self.add_error(None, "This results page link is no longer valid; start the search again.")
            else:
                if after.get("sort") != sort:
                    self.add_error(None, "This results page link belongs to another sort order.")
                else:
                    cleaned["after"] = after
        return cleaned

    def attribute_filters(self) -> list[tuple[dict, object]]:
        filters = []
        for attribute in self.attribute_schema:
            key = attribute["key"]
            if attribute["type"] == "number":
                bounds = (self.cleaned_data.get(f"attr_{key}_min"), self.cleaned_data.get(f"attr_{key}_max"))
                if bounds != (None, None):
                    filters.append((attribute, bounds))
            elif self.cleaned_data.get(f"attr_{key}"):
                filters.append((attribute, self.cleaned_data[f"attr_{key}"]))
        return filters


def keyword_query(text: str) -> SearchQuery | None:
    """websearch_to_tsquery semantics, and the last plain word also matches as a prefix."""
    text = text.strip()
    if not text:
        return None
    words = text.split()
    last = words[-1]
    previous = words[-2].lower() if len(words) > 1 else ""
    if not WORD.match(last) or last.lower() == "or" or previous == "or" or text.count('"') % 2:
        return SearchQuery(text, search_type="websearch", config="english")
    last_word = SearchQuery(last, search_type="websearch", config="english") | SearchQuery(
        f"{last.lower()}:*", search_type="raw", config="simple"
    )
    rest = " ".join(words[:-1])
    if not rest:
        return last_word
    return SearchQuery(rest, search_type="websearch", config="english") & last_word


def _number_path(key: str, low: Decimal | None, high: Decimal | None) -> str:
    """A jsonpath comparing the attribute as a number (a text value never matches)."""
    tests = []
    if low is not None:
        tests.append(f"@ >= {low:f}")
    if high is not None:
        tests.append(f"@ <= {high:f}")
    return f'$."{key}" ? ({" && ".join(tests)})'


class LLToEarth(Func):
    function = "ll_to_earth"
    output_field = Field()


class EarthBox(Func):
    function = "earth_box"
    output_field = Field()


class EarthDistance(Func):
    function = "earth_distance"
    output_field = FloatField()


class CubeContains(Func):
    arg_joiner = " @> "
    template = "(%(expressions)s)"
    output_field = BooleanField()


class JsonPathExists(Func):
    """``jsonb_path_exists(jsonb, jsonpath)``. Not the ``@?`` operator on purpose: that one
    sends the planner to the GIN index, which cannot answer a range and rechecks every row."""

    function = "jsonb_path_exists"
    output_field = BooleanField()


class CubeDistance(Func):
    """``cube <-> cube``: the GiST index returns the nearest rows first (KNN), in the order of
    the straight-line distance, which grows with the distance along the Earth."""

    arg_joiner = " <-> "
    template = "(%(expressions)s)"
    output_field = FloatField()


class AsJsonPath(Func):
    template = "%(expressions)s::jsonpath"
    output_field = Field()


def listing_earth() -> LLToEarth:
    """The listing's position, exactly as the listings_listing_location index computes it."""
    return LLToEarth(Cast("location_lat", FloatField()), Cast("location_lng", FloatField()))


def earth_point(point: tuple[float, float]) -> LLToEarth:
    return LLToEarth(Value(point[0], FloatField()), Value(point[1], FloatField()))


def filtered_listings(
    data: dict, form: SearchForm, *, with_attributes: bool = True, radius_box: bool = True
) -> QuerySet[Listing]:
    """Every filter of ``data`` (cleaned form data) applied to the public listings.

    ``radius_box=False`` leaves out the earth_box condition (the distance filter alone still
    applies): then the planner walks the sort's own index instead of the location index.
    """
    qs = public_listings()
    if form.category_node is not None:
        qs = qs.filter(category_id__in=form.category_node.descendant_ids())
    query = keyword_query(data.get("q") or "")
    if query is not None:
        qs = qs.filter(search_vector=query)
    if data.get("min_price_cents") is not None or data.get("max_price_cents") is not None:
        qs = qs.filter(currency=data["currency"], price_cents__isnull=False)
        if data.get("min_price_cents") is not None:
            qs = qs.filter(price_cents__gte=data["min_price_cents"])
        if data.get("max_price_cents") is not None:
            qs = qs.filter(price_cents__lte=data["max_price_cents"])
    if data.get("pricing_type"):
        qs = qs.filter(pricing_type=data["pricing_type"])
    if data.get("sort") in PRICE_SORTS:
        # Prices compare within one currency; "contact for price" has no place in a price order.
        qs = qs.filter(currency=data["currency"], price_cents__isnull=False)
    if data.get("point"):
        meters = float(data["radius_km"] * 1000)
        # earth_box is a square that the GiST index answers; earth_distance trims its corners.
        qs = qs.filter(
            LessThanOrEqual(EarthDistance(earth_point(data["point"]), listing_earth()), meters),
            location_lat__isnull=False,
        )
        if radius_box:
            qs = qs.filter(
                CubeContains(
                    EarthBox(earth_point(data["point"]), Value(meters, FloatField())), listing_earth()
                )
            )
    if with_attributes:
        for attribute, value in form.attribute_filters():
            key = attribute["key"]
            if attribute["type"] == "number":
                qs = qs.filter(JsonPathExists(F("attributes"), AsJsonPath(Value(_number_path(key, *value)))))
            elif attribute["type"] == "boolean":
                qs = qs.filter(attributes__contains={key: True})
            else:
                any_of = Q()
                for option in value:
                    any_of |= Q(attributes__contains={key: option})
                qs = qs.filter(any_of)
    return qs


@dataclass
class FacetCount:
    label: str
    value: str
    count: int
    selected: bool = False


@dataclass
class AttributeFacet:
    key: str
    label: str
    counts: list[FacetCount]


@dataclass
class CategoryFacet:
    node: CategoryNode
    count: int
    children: list["CategoryFacet"] = field(default_factory=list)


@dataclass
class SearchResult:
    listings: list[Listing]
    next_cursor: str | None
    total: int
    total_capped: bool
    category_facets: list[CategoryFacet]
    attribute_facets: list[AttributeFacet]
    sort: str

    @property
    def total_display(self) -> str:
        return f"{self.total:,}+" if self.total_capped else f"{self.total:,}"


def _ordered_page(qs: QuerySet[Listing], data: dict) -> QuerySet[Listing]:
    sort = data["sort"]
    if sort == "relevance":
        query = keyword_query(data["q"])
        qs = qs.annotate(rank=Cast(SearchRank(F("search_vector"), query, cover_density=True), FloatField()))
    if data.get("point"):
        point = earth_point(data["point"])
        qs = qs.annotate(distance=EarthDistance(point, listing_earth()))
        if sort == "distance":
            qs = qs.annotate(distance_key=CubeDistance(listing_earth(), point))
    key, direction = SORT_KEYS[sort]
    after = data.get("after")
    if after:
        value = after["value"]
        if key == "published_at":
            value = datetime.fromisoformat(value)
        comparison, id_comparison = ("lt", "id__lt") if direction == "desc" else ("gt", "id__gt")
        beyond = Q(**{f"{key}__{comparison}": value})
        qs = qs.filter(beyond | Q(**{key: value, id_comparison: after["id"]}))
    if direction == "desc":
        return qs.order_by(F(key).desc(), F("id").desc())
    return qs.order_by(F(key).asc(), F("id").asc())


def _cursor_for(listing: Listing, sort: str) -> str:
    key, _ = SORT_KEYS[sort]
    value = getattr(listing, key)
    if isinstance(value, datetime):
        value = value.isoformat()
    return signing.dumps({"sort": sort, "value": value, "id": str(listing.id)}, salt=CURSOR_SALT)


def _count_and_facets(data: dict, form: SearchForm) -> tuple[int, bool, dict, dict]:
    """Total (capped), matches per category (without the category filter) and per
    enum/boolean attribute value (without attribute filters), each over at most COUNT_CAP
    rows. Without a category filter the total and the category facet come from one query.

    Popular searches repeat: the result is cached for SEARCH_FACETS_TTL seconds (counts that
    lag a minute behind are fine; the listings themselves are always read fresh).
    """
    cache_key = _facets_cache_key(data)
    cached = cache.get(cache_key)
    if cached is not None:
        return cached
    with connection.cursor() as cursor:
        broad = filtered_listings(data, _WithoutCategory(form))
        sql, params = broad.order_by().values("category_id").query.sql_with_params()
        cursor.execute(
            f"SELECT category_id, count(*) FROM ({sql} LIMIT %s) AS matches GROUP BY 1",  # noqa: S608
            [*params, COUNT_CAP + 1],
        )
        per_category = {str(category_id): count for category_id, count in cursor.fetchall()}
        if form.category_node is None:
            total = sum(per_category.values())
        else:
            matching = filtered_listings(data, form)
            sql, params = matching.order_by().values("id").query.sql_with_params()
            cursor.execute(
                f"SELECT count(*) FROM ({sql} LIMIT %s) AS matches",  # noqa: S608
                [*params, COUNT_CAP + 1],
            )
            total = cursor.fetchone()[0]

        per_value: dict = {}
        keys = [a["key"] for a in form.attribute_schema if a["type"] in ("enum", "boolean")]
        if keys:
            unfiltered = filtered_listings(data, form, with_attributes=False)
            sql, params = unfiltered.order_by().values("attributes").query.sql_with_params()
            cursor.execute(
                f"SELECT entry.key, entry.value, count(*) FROM ({sql} LIMIT %s) AS matches "  # noqa: S608
                "CROSS JOIN LATERAL jsonb_each(matches.attributes) AS entry "
                "WHERE entry.key = ANY(%s) GROUP BY 1, 2",
                [*params, COUNT_CAP, keys],
            )
            for key, value, count in cursor.fetchall():
                # Django's psycopg setup hands jsonb back as text.
                per_value[(key, json.loads(value) if isinstance(value, str) else value)] = count
    result = (min(total, COUNT_CAP), total > COUNT_CAP, per_category, per_value)
    cache.set(cache_key, result, FACETS_TTL)
    return result


def _facets_cache_key(data: dict) -> str:
    """The filters that decide the counts (not the page cursor), plus the category tree's
    version, hashed."""
    relevant = {key: value for key, value in data.items() if key not in ("cursor", "after")}
    digest = hashlib.sha256(repr(sorted((key, repr(value)) for key, value in relevant.items())).encode())
    version = cache.get(CATEGORY_TREE_VERSION_KEY)
    return f"search-facets:{version}:{digest.hexdigest()}"


class _WithoutCategory:
    """The form as the category facet sees it: every filter but the category."""

    def __init__(self, form: SearchForm):
        self._form = form
        self.category_node = None

    def attribute_filters(self):
        return self._form.attribute_filters()


def _category_facets(nodes: list[CategoryNode], per_category: dict) -> list[CategoryFacet]:
    facets = []
    for node in nodes:
        children = _category_facets(node.children, per_category)
        count = per_category.get(node.id, 0) + sum(child.count for child in children)
        if count:
            facets.append(CategoryFacet(node=node, count=count, children=children))
    return facets


def _attribute_facets(form: SearchForm, per_value: dict) -> list[AttributeFacet]:
    facets = []
    for attribute in form.attribute_schema:
        key = attribute["key"]
        if attribute["type"] == "enum":
            chosen = set(form.cleaned_data.get(f"attr_{key}") or [])
            counts = [
                FacetCount(
                    label=option,
                    value=option,
                    count=per_value.get((key, option), 0),
                    selected=option in chosen,
                )
                for option in attribute["options"]
            ]
        elif attribute["type"] == "boolean":
            counts = [
                FacetCount(
                    label="Yes",
                    value="on",
                    count=per_value.get((key, True), 0),
                    selected=bool(form.cleaned_data.get(f"attr_{key}")),
                )
            ]
        else:
            continue
        facets.append(AttributeFacet(key=key, label=attribute["label"], counts=counts))
    return facets


def run_search(form: SearchForm) -> SearchResult:
    """Run a valid form's search: one page of listings plus counts and facets."""
    data = form.cleaned_data
    total, capped, per_category, per_value = _count_and_facets(data, form)
    # The planner cannot estimate how many rows a radius holds. Few (the count stopped short
    # of its cap): fetch them through the location index and sort. Many: walk the sort's own
    # index and check the distance on the way, which finds a page long before the end.
    radius_box = data["sort"] == "distance" or not capped
    matching = filtered_listings(data, form, radius_box=radius_box)
    page_qs = _ordered_page(matching, data).select_related("category").only(*CARD_FIELDS)
    rows = list(page_qs[: PAGE_SIZE + 1])
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    if not data.get("after") and not has_next:
        # The whole result is on this page: its length is the exact total, whatever the cache says.
        total, capped = len(rows), False
    return SearchResult(
        listings=rows,
        next_cursor=_cursor_for(rows[-1], data["sort"]) if has_next else None,
        total=total,
        total_capped=capped,
        category_facets=_category_facets(form.tree.roots, per_category),
        attribute_facets=_attribute_facets(form, per_value),
        sort=data["sort"],
    )
