"""SQL building blocks of the search: the keyword query, the earthdistance functions
(matching the location index) and the typed jsonpath of attribute filters."""

from decimal import Decimal

from django.db.models import BooleanField, Field, FloatField, Func, Value
from django.db.models.functions import Cast

# The keyword query is a building block too (listings.search.keywords), re-exported here.
from listings.search.keywords import WORD, keyword_query  # noqa: F401


def number_path(key: str, low: Decimal | None, high: Decimal | None) -> str:
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
