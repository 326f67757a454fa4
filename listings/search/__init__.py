"""Listing search: keywords, category subtree, typed attribute filters, price, radius,
sorting, keyset pagination and facet counts.

``form`` parses the GET parameters; ``expressions`` holds the SQL building blocks;
``filters`` decides which listings match; ``facets`` counts them; ``query`` fetches a page
and ``run_search`` puts it all together. The public names are re-exported here.
"""

from listings.categories import attribute_schema_for
from listings.search.expressions import (
    WORD,
    AsJsonPath,
    CubeContains,
    CubeDistance,
    EarthBox,
    EarthDistance,
    JsonPathExists,
    LLToEarth,
    earth_point,
    keyword_query,
    listing_earth,
)
from listings.search.facets import COUNT_CAP, AttributeFacet, CategoryFacet, FacetCount
from listings.search.filters import PRICE_SORTS, filtered_listings
from listings.search.form import CURSOR_SALT, MAX_RADIUS_KM, SORTS, SearchForm
from listings.search.query import CARD_FIELDS, PAGE_SIZE, SORT_KEYS, SearchResult, run_search

__all__ = [
    "CARD_FIELDS",
    "COUNT_CAP",
    "CURSOR_SALT",
    "MAX_RADIUS_KM",
    "PAGE_SIZE",
    "PRICE_SORTS",
    "SORTS",
    "SORT_KEYS",
    "WORD",
    "AsJsonPath",
    "AttributeFacet",
    "CategoryFacet",
    "CubeContains",
    "CubeDistance",
    "EarthBox",
    "EarthDistance",
    "FacetCount",
    "JsonPathExists",
    "LLToEarth",
    "SearchForm",
    "SearchResult",
    "attribute_schema_for",
    "earth_point",
    "filtered_listings",
    "keyword_query",
    "listing_earth",
    "run_search",
]
