"""What an analytics event says about a listing: its id and its category's slug (the staff
funnel groups by category)."""

from listings.categories import category_tree
from listings.models import Listing


def listing_event_properties(listing: Listing) -> dict[str, str]:
    """``{"listing": id, "category": slug}``. No query when the category is loaded (the
    listing page's selector joins it); otherwise the cached category tree answers, and a
    category it lacks is read (one query)."""
    if Listing.category.is_cached(listing):
        slug = listing.category.slug
    else:
        node = category_tree().by_id.get(str(listing.category_id))
        # A category newer than the cached tree: read it (one query).
        slug = node.slug if node else listing.category.slug
    return {"listing": str(listing.pk), "category": slug}
