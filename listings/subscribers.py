"""Listings' subscribers to the hooks of lower apps (connected in ``ListingsConfig.ready()``).

accounts sits below listings and cannot call it; it announces a moderation decision through
``accounts.hooks.user_status_changed`` and this module keeps the public pages in step.
"""

from accounts import hooks as accounts_hooks
from accounts.models import AccountStatus
from listings.services import category_tree_changed, seller_changed


@accounts_hooks.user_status_changed.subscribe
def retire_seller_pages(user_id, old_status: str, new_status: str) -> None:
    """A banned seller's listings leave public pages at once, and come back on reinstatement.

    The listing page, home, search results, sitemap and the seller's profile read visibility
    fresh from the database (``public_listings``, ``listing_visible_to``); what Redis holds is
    retired here. The seller's page fragments go on every change (the seller card), and when
    a ban starts or ends the search facet counts go too: they are filed under the category
    tree's version, so bumping it is the one O(1) way to retire them all. It also retires
    every listing page fragment (rebuilt on their next view), a fair price for an event as
    rare as a ban. Suspended sellers' listings stay public (DESIGN: only a ban hides them).
    Called after the status change committed, so nothing is rebuilt from the old status.
    """
    seller_changed(user_id)
    if AccountStatus.BANNED in (old_status, new_status):
        category_tree_changed()


@accounts_hooks.user_badges_changed.subscribe
def retire_seller_badge_pages(user_id) -> None:
    """The seller card shows the badges: retire the seller's cached pages."""
    seller_changed(user_id)
