"""Stored details that do not match their category's schema, and their repair.

Rows get out of step when a category's schema changes after its listings were written, or
when something wrote ``attributes`` around the one check (``listings.services.
attributes_normalise``): an old admin edit saved ``{"drawers": "11"}`` as text, which no
numeric filter ever finds. ``check_attributes`` lists them; ``--fix`` stores the ones whose
values have one unambiguous typed spelling, and leaves the rest to a person.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction

from listings.categories import attribute_schema_for, category_tree
from listings.models import Listing
from listings.services import attributes_normalise, listing_changed
from marketplace.errors import ServiceError

CHUNK = 2_000


@dataclass
class AttributeMismatch:
    listing_id: object
    slug: str
    category: str
    stored: object
    # What the one check makes of the stored details (None when it cannot: ``problem``).
    fixed: dict | None
    problem: str

    @property
    def fixable(self) -> bool:
        return self.fixed is not None


def attribute_mismatches() -> Iterator[AttributeMismatch]:
    """Every listing whose stored details differ from what ``attributes_normalise`` makes of
    them, in id order, read in chunks (a million rows stay out of memory)."""
    tree = category_tree(fresh=True)
    schemas: dict[str, tuple[str, list[dict]] | None] = {}
    rows = Listing.objects.order_by("id").values_list("id", "slug", "category_id", "attributes")
    for listing_id, slug, category_id, attributes in rows.iterator(chunk_size=CHUNK):
        key = str(category_id)
        if key not in schemas:
            node = tree.by_id.get(key)
            schemas[key] = (node.name, attribute_schema_for(node, tree)) if node is not None else None
        if schemas[key] is None:
            yield AttributeMismatch(
                listing_id, slug, key, attributes, None, "Its category is not in the tree."
            )
            continue
        name, schema = schemas[key]
        try:
            strict = attributes_normalise(schema=schema, attributes=attributes, category_name=name)
        except ServiceError as refused:
            problem = refused.message
        else:
            if strict == attributes:
                continue
            problem = "Stored with untrimmed or empty values."
        try:
            fixed = attributes_normalise(
                schema=schema, attributes=attributes, category_name=name, coerce=True
            )
        except ServiceError as refused:
            yield AttributeMismatch(listing_id, slug, name, attributes, None, refused.message)
        else:
            yield AttributeMismatch(listing_id, slug, name, attributes, fixed, problem)


def attribute_mismatch_fix(mismatch: AttributeMismatch) -> bool:
    """Store the typed details of a fixable mismatch; False if the row changed since it was
    read (compare-and-set on the stored value: a concurrent edit wins, the next run sees it).
    The search-vector trigger re-indexes the row; its cached page is retired on commit."""
    if not mismatch.fixable:
        return False
    with transaction.atomic():
        updated = Listing.objects.filter(pk=mismatch.listing_id, attributes=mismatch.stored).update(
            attributes=mismatch.fixed
        )
        if updated:
            listing_changed(mismatch.listing_id)
    return bool(updated)
