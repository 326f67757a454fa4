"""The accounts' domain events: where higher apps hook in when an account changes.

Each is a :class:`marketplace.events.Hook`, called by the accounts services through
``marketplace.events.after_commit``, so a subscriber never hears of a change that was rolled
back, and one that fails (Redis down) is logged without undoing the change. accounts is below
every other app and imports none of them: listings, for one, subscribes from
``listings/subscribers.py`` to retire the banned seller's cached pages.
"""

from marketplace.events import Hook

user_status_changed = Hook(
    "accounts.user_status_changed",
    "user_status_changed(user_id, old_status, new_status): staff moved an account between "
    "active, suspended and banned (``AccountStatus`` values; called only when they differ).",
)

user_badges_changed = Hook(
    "accounts.user_badges_changed",
    "user_badges_changed(user_id): staff granted or withdrew the seller-verified or KYC badge.",
)
