"""The search form: every filter a visitor can ask for is a GET parameter parsed here;
invalid input becomes a form error, never a 500."""

import functools
import math
import uuid
from datetime import datetime
from decimal import Decimal

from django import forms
from django.conf import settings
from django.core import signing

from listings.categories import CategoryTree, attribute_schema_for, category_tree
from listings.cities import CITIES, CITIES_BY_SLUG
from listings.models import PricingType
from marketplace.money import parse_amount
from marketplace.widgets import (
    FastHiddenInput,
    FastNumberInput,
    FastSelect,
    FastTextInput,
    SharedChoiceField,
    fast_copied_fields,
)

MAX_RADIUS_KM = 20_000
CURSOR_SALT = "listings.search.cursor"

SORTS = {
    "relevance": "Best match",
    "newest": "Newest",
    "price_asc": "Price: low to high",
    "price_desc": "Price: high to low",
    "distance": "Distance",
}


@fast_copied_fields
class SearchForm(forms.Form):
    q = forms.CharField(label="Keywords", max_length=200, required=False, widget=FastTextInput)
    category = forms.CharField(label="Category", max_length=100, required=False, widget=FastSelect)
    min_price = forms.CharField(label="Min price", max_length=20, required=False, widget=FastTextInput)
    max_price = forms.CharField(label="Max price", max_length=20, required=False, widget=FastTextInput)
    currency = SharedChoiceField(label="Currency", required=False, widget=FastSelect)
    pricing_type = SharedChoiceField(
        label="Pricing", required=False, choices=[("", "Any")] + list(PricingType.choices), widget=FastSelect
    )
    near = SharedChoiceField(
        label="Near",
        required=False,
        choices=[("", "Anywhere")] + [(city.slug, city.name) for city in CITIES],
        widget=FastSelect,
    )
    lat = forms.DecimalField(
        label="Latitude",
        required=False,
        min_value=-90,
        max_value=90,
        max_digits=10,
        decimal_places=7,
        widget=FastNumberInput,
    )
    lng = forms.DecimalField(
        label="Longitude",
        required=False,
        min_value=-180,
        max_value=180,
        max_digits=11,
        decimal_places=7,
        widget=FastNumberInput,
    )
    radius_km = forms.IntegerField(
        label="Within (km)", required=False, min_value=1, max_value=MAX_RADIUS_KM, widget=FastNumberInput
    )
    sort = SharedChoiceField(label="Sort by", required=False, choices=list(SORTS.items()), widget=FastSelect)
    cursor = forms.CharField(required=False, widget=FastHiddenInput)
    # "Search instead for <the words as typed>": no automatic spelling correction.
    exact = forms.BooleanField(required=False, widget=FastHiddenInput)

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.tree = category_tree()
        self.fields["category"].widget.share_choices(_category_choices(self.tree))
        self.fields["currency"].share_choices(_currency_choices(tuple(settings.CURRENCIES)))
        # As the field cleans it (stripped): the node the search filters by is the one it names.
        slug = ((data or {}).get("category") or "").strip()
        self.category_node = self.tree.by_slug.get(slug)
        self.attribute_schema = attribute_schema_for(self.category_node, self.tree)
        for attribute in self.attribute_schema:
            self._add_attribute_fields(attribute)

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
                    widget=FastNumberInput,
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
                if not isinstance(after, dict):
                    self.add_error(None, "This results page link is no longer valid; start the search again.")
                elif after.get("sort") != sort:
                    self.add_error(None, "This results page link belongs to another sort order.")
                elif after.get("engine"):
                    # The search engine's offset (listings.search.engine): only the engine continues it.
                    from listings.search import engine

                    cleaned["after"] = after
                    if error := engine.cursor_error(self, cleaned):
                        self.add_error(None, error)
                        cleaned["after"] = None
                elif not _keyset_cursor(after, sort):
                    # A link from before the best-match order had its present keys; a link
                    # signed by a release whose cursors held something else.
                    self.add_error(None, "This results page link is no longer valid; start the search again.")
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


# The category select's options for the last tree seen: a tree object stands for one version
# (listings.categories.category_tree), so its options are built once per version, not per search.
_last_choices: tuple[CategoryTree | None, tuple] = (None, ())


def _category_choices(tree: CategoryTree) -> tuple[tuple[str, str], ...]:
    """("", "All categories"), then every category depth-first, indented by depth."""
    global _last_choices
    if _last_choices[0] is not tree:
        choices = [("", "All categories")]

        def walk(nodes, depth):
            for node in nodes:
                choices.append((node.slug, ("\u2003" * depth) + node.name))
                walk(node.children, depth + 1)

        walk(tree.roots, 0)
        _last_choices = (tree, tuple(choices))
    return _last_choices[1]


@functools.cache
def _currency_choices(codes: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((code, code) for code in codes)


def _keyset_cursor(after: dict, sort: str) -> bool:
    """A keyset cursor of ``sort`` (``listings.search.query._cursor_for``): the id of the last
    listing shown, and its sort key, of the type that sort compares. Best match: zone 0 holds
    [title_match, rank, published_at], zone 1 published_at."""
    if not isinstance(after.get("id"), str) or not _is_uuid(after["id"]):
        return False
    value = after.get("value")
    if sort == "relevance":
        if after.get("zone") == 1:
            return _is_moment(value)
        return (
            after.get("zone") == 0
            and isinstance(value, list)
            and len(value) == 3
            and _is_number(value[0])
            and _is_number(value[1])
            and _is_moment(value[2])
        )
    if sort == "newest":
        return _is_moment(value)
    if sort in ("price_asc", "price_desc"):
        return isinstance(value, int) and not isinstance(value, bool)
    return _is_number(value)  # distance


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _is_moment(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
