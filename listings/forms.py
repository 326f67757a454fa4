"""The listing editor's form: the listing's fields, and detail fields built from the
category's merged attribute schema.

The attribute fields depend on the category, so the form remembers which category its
fields were shown for (``rendered_for``). A submission whose category differs from it is not
saved: ``needs_refresh`` is set and ``refreshed()`` gives the form again with the new
category's fields, values carried over where the new category has the same detail, and a
notice naming the details the new category does not have (they are dropped on the next
save). That is also how the "Update fields" button works without JavaScript.
"""

from decimal import Decimal

from django import forms
from django.conf import settings

from listings.categories import CategoryNode, attribute_schema_for, category_tree
from listings.countries import COUNTRY_CODES, COUNTRY_MESSAGE
from listings.models import Listing, ListingVisibility, PricingType
from listings.services import (
    ATTRIBUTE_TEXT_MAX_LENGTH,
    BOTH_COORDINATES,
    CITY_MAX_LENGTH,
    COORDINATE_DECIMAL_PLACES,
    DESCRIPTION_MAX_LENGTH,
    FIXED_PRICE_NEEDS_PRICE,
    META_DESCRIPTION_MAX_LENGTH,
    META_TITLE_MAX_LENGTH,
    PRICE_ABOVE_ZERO,
    TITLE_MAX_LENGTH,
)
from marketplace.money import amount_text, below_minimum_charge, minimum_charge_message, parse_amount

ATTRIBUTE_PREFIX = "attr_"
REFRESH_BUTTON = "refresh"
# Number details: within these bounds, and at most 15 significant digits, so the JSON number
# (an int, or a float made from the decimal text) reads back as exactly what was typed.
NUMBER_MAX_DIGITS = 15
NUMBER_DECIMAL_PLACES = 6
NUMBER_LIMIT = Decimal("1e12")

VISIBILITY_HELP = "Public: anyone can find it. Unlisted: only people you give the link to. Private: only you."


def json_number(value: Decimal) -> int | float:
    """A whole number as an int, any other as the float of its decimal text."""
    if value == value.to_integral_value():
        return int(value)
    return float(str(value))


def _coordinate_errors(label: str, limit: int) -> dict:
    places = f"{label} has at most {COORDINATE_DECIMAL_PLACES} decimal places."
    return {
        "invalid": f"Enter the {label.lower()} as a number, such as 30.2672.",
        "min_value": f"{label} must be between -{limit} and {limit}.",
        "max_value": f"{label} must be between -{limit} and {limit}.",
        "max_decimal_places": places,
    }


def _walk(nodes: list[CategoryNode], depth: int = 0):
    for node in nodes:
        yield node, depth
        yield from _walk(node.children, depth + 1)


class ListingForm(forms.Form):
    title = forms.CharField(max_length=TITLE_MAX_LENGTH)
    category = forms.ChoiceField(
        error_messages={
            "required": "Choose a category.",
            "invalid_choice": "Choose a category from the list.",
        },
        help_text="Each category asks for its own details: after changing it, press “Update fields”.",
    )
    rendered_for = forms.CharField(required=False, widget=forms.HiddenInput)
    description = forms.CharField(max_length=DESCRIPTION_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 8}))
    price = forms.CharField(
        max_length=20,
        required=False,
        help_text="In the chosen currency, such as 45.99. Leave it empty to show “Contact for price”.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    currency = forms.ChoiceField()
    pricing_type = forms.ChoiceField(label="Pricing", choices=PricingType.choices)
    location_country = forms.CharField(
        label="Country",
        max_length=2,
        required=False,
        help_text="Two-letter code, such as US, DE or JP.",
        widget=forms.TextInput(attrs={"size": 2, "autocomplete": "country"}),
    )
    location_city = forms.CharField(label="City", max_length=CITY_MAX_LENGTH, required=False)
    location_lat = forms.DecimalField(
        label="Latitude",
        required=False,
        min_value=-90,
        max_value=90,
        decimal_places=COORDINATE_DECIMAL_PLACES,  # whole digits: the range decides
        help_text="Optional, for searches by distance: −90 to 90.",
        error_messages=_coordinate_errors("Latitude", 90),
    )
    location_lng = forms.DecimalField(
        label="Longitude",
        required=False,
        min_value=-180,
        max_value=180,
        decimal_places=COORDINATE_DECIMAL_PLACES,
        help_text="−180 to 180; give both or neither.",
        error_messages=_coordinate_errors("Longitude", 180),
    )
    visibility = forms.ChoiceField(
        choices=ListingVisibility.choices, widget=forms.RadioSelect, help_text=VISIBILITY_HELP
    )
    meta_title = forms.CharField(
        label="Search-engine title",
        max_length=META_TITLE_MAX_LENGTH,
        required=False,
        help_text=f"Up to {META_TITLE_MAX_LENGTH} characters; the listing's title when empty.",
    )
    meta_description = forms.CharField(
        label="Search-engine description",
        max_length=META_DESCRIPTION_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"Up to {META_DESCRIPTION_MAX_LENGTH} characters; the start of the description when empty.",
    )

    BASIC_FIELDS = ("title", "category", "description")
    PRICE_FIELDS = ("price", "currency", "pricing_type")
    LOCATION_FIELDS = ("location_country", "location_city", "location_lat", "location_lng")
    SEO_FIELDS = ("meta_title", "meta_description")

    def __init__(self, data=None, *, listing: Listing | None = None, initial: dict | None = None, **kwargs):
        base = self._initial_for(listing)
        super().__init__(data, initial={**base, **(initial or {})}, **kwargs)
        self.listing = listing
        # The current version: the details are checked against the schema of now.
        self.tree = category_tree(fresh=True)
        self.fields["category"].choices = [("", "Choose a category")] + [
            (node.id, "\u2003" * depth + node.name) for node, depth in _walk(self.tree.roots)
        ]
        self.fields["currency"].choices = [(code, code) for code in settings.CURRENCIES]
        self.category_node = self._schema_node()
        self.attribute_schema = attribute_schema_for(self.category_node, self.tree)
        for attribute in self.attribute_schema:
            self.fields[ATTRIBUTE_PREFIX + attribute["key"]] = self._attribute_field(attribute)
        self.dropped_details: list[str] = []

    @staticmethod
    def _initial_for(listing: Listing | None) -> dict:
        if listing is None:
            return {
                "currency": settings.DEFAULT_CURRENCY,
                "pricing_type": PricingType.FIXED,
                "visibility": ListingVisibility.PUBLIC,
                "rendered_for": "",
            }
        initial = {
            "title": listing.title,
            "category": str(listing.category_id),
            "rendered_for": str(listing.category_id),
            "description": listing.description,
            "price": amount_text(listing.price_cents, listing.currency),
            "currency": listing.currency,
            "pricing_type": listing.pricing_type,
            "location_country": listing.location_country,
            "location_city": listing.location_city,
            "location_lat": listing.location_lat,
            "location_lng": listing.location_lng,
            "visibility": listing.visibility,
            "meta_title": listing.meta_title,
            "meta_description": listing.meta_description,
        }
        for key, value in (listing.attributes or {}).items():
            initial[ATTRIBUTE_PREFIX + key] = value
        return initial

    def _node(self, category_id) -> CategoryNode | None:
        return self.tree.by_id.get(str(category_id or ""))

    def _schema_node(self) -> CategoryNode | None:
        """The category whose details the form asks for: the one submitted, else the one the
        fields were shown for, else the listing's."""
        if self.is_bound:
            for candidate in (self.data.get("category"), self.data.get("rendered_for")):
                if self._node(candidate) is not None:
                    return self._node(candidate)
        node = self._node(self.initial.get("category"))
        if node is None and self.listing is not None:
            node = self._node(self.listing.category_id)
        return node

    @staticmethod
    def _attribute_field(attribute: dict) -> forms.Field:
        label, kind = attribute["label"], attribute["type"]
        required = bool(attribute.get("required"))
        if attribute.get("unit"):
            label = f"{label} ({attribute['unit']})"
        if kind == "number":
            return forms.DecimalField(
                label=label,
                required=required,
                max_digits=NUMBER_MAX_DIGITS,
                decimal_places=NUMBER_DECIMAL_PLACES,
                min_value=-NUMBER_LIMIT,
                max_value=NUMBER_LIMIT,
                error_messages={
                    "invalid": f"Enter a number for {attribute['label']}, such as 12 or 12.5.",
                    "required": f"Enter {attribute['label']}: this category needs it.",
                    "max_value": f"{attribute['label']} must be at most {NUMBER_LIMIT:,f}.",
                    "min_value": f"{attribute['label']} must be at least -{NUMBER_LIMIT:,f}.",
                    "max_digits": f"{attribute['label']} has at most {NUMBER_MAX_DIGITS} digits.",
                    "max_decimal_places": (
                        f"{attribute['label']} has at most {NUMBER_DECIMAL_PLACES} decimals."
                    ),
                    "max_whole_digits": f"{attribute['label']} has at most {NUMBER_MAX_DIGITS} digits.",
                },
                widget=forms.TextInput(attrs={"inputmode": "decimal"}),
            )
        if kind == "enum":
            options = attribute["options"]
            return forms.ChoiceField(
                label=label,
                required=required,
                choices=[("", "Not specified" if not required else "Choose…")]
                + [(option, option) for option in options],
                error_messages={
                    "invalid_choice": f"Choose {attribute['label']} from the list: {', '.join(options)}.",
                    "required": f"Choose {attribute['label']}: this category needs it.",
                },
            )
        if kind == "boolean":
            # A checkbox always answers: unchecked is "No", so ``required`` is met by itself.
            return forms.BooleanField(label=label, required=False)
        return forms.CharField(
            label=label,
            required=required,
            max_length=ATTRIBUTE_TEXT_MAX_LENGTH,
            error_messages={"required": f"Enter {attribute['label']}: this category needs it."},
        )

    # --- Category changes --------------------------------------------------------------
    @property
    def needs_refresh(self) -> bool:
        """The submission is to be shown again, not saved: the "Update fields" button was
        pressed, or the detail fields on the page were built for another category's schema.
        (A submission without ``rendered_for`` at all is validated as it stands.)"""
        if not self.is_bound:
            return False
        if REFRESH_BUTTON in self.data:
            return True
        if "rendered_for" not in self.data or self.category_node is None:
            return False
        return attribute_schema_for(self._node(self.data["rendered_for"]), self.tree) != self.attribute_schema

    def refreshed(self) -> "ListingForm":
        """This submission as an unbound form with the chosen category's detail fields.

        Values carry over, details included where the new category has the same key; the
        labels of the details it does not have (or whose value it does not accept) are in
        ``dropped_details``: they are not saved.
        """
        shown = attribute_schema_for(self._node(self.data.get("rendered_for")), self.tree)
        shown_names = {ATTRIBUTE_PREFIX + attribute["key"] for attribute in shown}
        carried = {
            name: field.widget.value_from_datadict(self.data, self.files, self.add_prefix(name))
            for name, field in self.fields.items()
            # A detail that was not on the page keeps the listing's stored value, if any.
            if not name.startswith(ATTRIBUTE_PREFIX) or name in shown_names
        }
        carried["rendered_for"] = self.category_node.id if self.category_node else ""
        form = ListingForm(listing=self.listing, initial=carried)
        dropped = []
        for attribute in shown:
            name = ATTRIBUTE_PREFIX + attribute["key"]
            value = (self.data.get(name) or "").strip()
            if not value:
                continue
            field = form.fields.get(name)
            if field is None or (isinstance(field, forms.ChoiceField) and value not in dict(field.choices)):
                dropped.append(attribute["label"])
                form.initial.pop(name, None)
        form.dropped_details = dropped
        return form

    # --- Validation --------------------------------------------------------------------
    def clean_location_country(self):
        country = self.cleaned_data["location_country"].strip().upper()
        if country and country not in COUNTRY_CODES:
            raise forms.ValidationError(COUNTRY_MESSAGE)
        return country

    def clean(self):
        cleaned = super().clean()
        unknown = sorted(
            key.removeprefix(ATTRIBUTE_PREFIX)
            for key in self.data
            if key.startswith(ATTRIBUTE_PREFIX) and key not in self.fields
        )
        if unknown:
            category = self.category_node.name if self.category_node else "This category"
            self.add_error(
                None,
                f"{category} listings have no detail named {', '.join(unknown)}. "
                "Check the details below and save again.",
            )

        currency = cleaned.get("currency")
        text = (cleaned.get("price") or "").strip()
        cleaned["price_cents"] = None
        if text and currency:
            try:
                cleaned["price_cents"] = parse_amount(text, currency)
            except ValueError as error:
                self.add_error("price", str(error))
            else:
                if cleaned["price_cents"] == 0:
                    self.add_error("price", PRICE_ABOVE_ZERO)
                elif cleaned.get("pricing_type") == PricingType.FIXED and below_minimum_charge(
                    cleaned["price_cents"], currency
                ):
                    self.add_error("price", minimum_charge_message(currency))
        elif not text and cleaned.get("pricing_type") == PricingType.FIXED:
            self.add_error("price", FIXED_PRICE_NEEDS_PRICE)

        coordinates = ("location_lat", "location_lng")
        if not any(name in self.errors for name in coordinates):
            given = [cleaned.get(name) is not None for name in coordinates]
            if any(given) and not all(given):
                self.add_error(coordinates[given.index(False)], BOTH_COORDINATES)
        return cleaned

    # --- Output ------------------------------------------------------------------------
    def attribute_values(self) -> dict:
        """The details as stored: typed JSON values, empty optional ones left out."""
        values = {}
        for attribute in self.attribute_schema:
            value = self.cleaned_data.get(ATTRIBUTE_PREFIX + attribute["key"])
            if attribute["type"] == "boolean":
                values[attribute["key"]] = bool(value)
            elif attribute["type"] == "number":
                if value is not None:
                    values[attribute["key"]] = json_number(value)
            elif value:
                values[attribute["key"]] = value
        return values

    def listing_data(self) -> dict:
        """The cleaned form as the ``data`` of ``listing_create`` / ``listing_update``."""
        data = self.cleaned_data
        return {
            "title": data["title"],
            "description": data["description"],
            "category_id": data["category"],
            "price_cents": data["price_cents"],
            "currency": data["currency"],
            "pricing_type": data["pricing_type"],
            "attributes": self.attribute_values(),
            "location_country": data["location_country"],
            "location_city": data["location_city"],
            "location_lat": data["location_lat"],
            "location_lng": data["location_lng"],
            "visibility": data["visibility"],
            "meta_title": data["meta_title"],
            "meta_description": data["meta_description"],
        }

    def bound_group(self, names) -> list:
        return [self[name] for name in names]

    @property
    def basic_fields(self):
        return self.bound_group(self.BASIC_FIELDS)

    @property
    def price_fields(self):
        return self.bound_group(self.PRICE_FIELDS)

    @property
    def attribute_fields(self):
        return [self[ATTRIBUTE_PREFIX + attribute["key"]] for attribute in self.attribute_schema]

    @property
    def location_fields(self):
        return self.bound_group(self.LOCATION_FIELDS)

    @property
    def seo_fields(self):
        return self.bound_group(self.SEO_FIELDS)
