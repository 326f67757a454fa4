"""What the alerts find, for notifications. Called after commit; arguments are ids (and the
listing ids found), so a subscriber reads what it shows."""

from marketplace.events import Hook

saved_search_matched = Hook(
    "alerts.saved_search_matched",
    "saved_search_matched(saved_search_id, listing_ids): new listings match an instant alert.",
)
saved_search_digest = Hook(
    "alerts.saved_search_digest",
    "saved_search_digest(user_id, {saved_search_id: [listing_id, ...]}, day): the daily alerts "
    "of one member (one email).",
)
followed_seller_listed = Hook(
    "alerts.followed_seller_listed",
    "followed_seller_listed(follower_id, listing_id): a seller the member follows (alerts on) listed.",
)
price_dropped = Hook(
    "alerts.price_dropped",
    "price_dropped(listing_id, user_ids, old_cents, new_cents, dropped_at): a favorited listing's "
    "price went down; user_ids favorited it (a batch).",
)
