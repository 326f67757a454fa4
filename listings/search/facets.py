"""Counts and facets of a search: the capped total, matches per category and per
attribute value, cached for a short while under a key of the filters."""

import hashlib
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from listings.categories import CATEGORY_TREE_VERSION_KEY, CategoryNode
from listings.search.filters import WithoutCategory, filtered_listings
from listings.search.form import SearchForm

# Counts stop at this many matching rows, so a broad search stays within its budget.
COUNT_CAP = settings.SEARCH_COUNT_CAP
FACETS_TTL = settings.SEARCH_FACETS_TTL


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


def count_and_facets(data: dict, form: SearchForm) -> tuple[int, bool, dict, dict]:
    """Total (capped), matches per category (without the category filter) and per
    enum/boolean attribute value (without attribute filters), each over at most COUNT_CAP
    rows. Without a category filter the total and the category facet come from one query.

    Popular searches repeat: the result is cached for SEARCH_FACETS_TTL seconds (counts that
    lag a minute behind are fine; the listings themselves are always read fresh).
    """
    cache_key = facets_cache_key(data)
    cached = cache.get(cache_key)
    if cached is not None:
        return cached
    with connection.cursor() as cursor:
        broad = filtered_listings(data, WithoutCategory(form))
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


def facets_cache_key(data: dict) -> str:
    """The filters that decide the counts (not the page cursor), plus the category tree's
    version, hashed."""
    relevant = {key: value for key, value in data.items() if key not in ("cursor", "after")}
    digest = hashlib.sha256(repr(sorted((key, repr(value)) for key, value in relevant.items())).encode())
    version = cache.get(CATEGORY_TREE_VERSION_KEY)
    return f"search-facets:{version}:{digest.hexdigest()}"


def category_facets(nodes: list[CategoryNode], per_category: dict) -> list[CategoryFacet]:
    facets = []
    for node in nodes:
        children = category_facets(node.children, per_category)
        count = per_category.get(node.id, 0) + sum(child.count for child in children)
        if count:
            facets.append(CategoryFacet(node=node, count=count, children=children))
    return facets


def attribute_facets(form: SearchForm, per_value: dict) -> list[AttributeFacet]:
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
