"""The listings' domain events: where higher apps hook in when staff moderate a listing.

Each is a :class:`marketplace.events.Hook`, called by ``listings.moderation`` through
``marketplace.events.after_commit``; ``notifications/moderation_subscribers.py`` tells the
seller. Arguments are ids and text, so a subscriber re-reads what it needs.
"""

from marketplace.events import Hook

listing_taken_down = Hook(
    "listings.listing_taken_down",
    "listing_taken_down(listing_id, reason): staff took the listing off the site (archived).",
)
listing_restored = Hook(
    "listings.listing_restored",
    "listing_restored(listing_id, reason): staff put a taken-down listing back.",
)
listing_approved = Hook(
    "listings.listing_approved",
    "listing_approved(listing_id, reason): staff approved a listing waiting for approval; it is live.",
)
listing_declined = Hook(
    "listings.listing_declined",
    "listing_declined(listing_id, reason): staff declined a listing waiting for approval (back to draft).",
)
listing_price_dropped = Hook(
    "listings.listing_price_dropped",
    "listing_price_dropped(listing_id, old_cents, new_cents, dropped_at): the seller lowered the "
    "price of an active listing (same currency); dropped_at (ISO time) names the drop.",
)
