"""Reviews' subscribers to the hooks of lower apps (connected in ``ReviewsConfig.ready()``).

- A purchase becomes reviewable when the buyer confirms receipt or escrow is released,
  whichever comes first: ``review_requested`` is announced then, once for each party.
- A ban hides the banned member's reviews and takes them out of the ratings (the
  ``reviews_follow_reviewer_ban`` trigger does the counting, in the ban's own transaction);
  here the cached listing pages of the people they reviewed are retired.
"""

from accounts import hooks as accounts_hooks
from accounts.models import AccountStatus
from listings.services import seller_changed
from marketplace.events import after_commit
from payments import hooks as payments_hooks
from reviews import hooks
from reviews.models import Review


def _request_reviews(transaction) -> None:
    after_commit(hooks.review_requested, transaction, transaction.buyer)
    after_commit(hooks.review_requested, transaction, transaction.seller)


@payments_hooks.order_receipt_confirmed.subscribe
def request_reviews_on_receipt(transaction) -> None:
    """Receipt confirmed: the purchase is reviewable from now."""
    _request_reviews(transaction)


@payments_hooks.order_completed.subscribe
def request_reviews_on_release(transaction) -> None:
    """Escrow released: reviewable from now, unless the buyer confirmed receipt before (asked then)."""
    if (transaction.metadata or {}).get("receipt_confirmed_at"):
        return
    _request_reviews(transaction)


@accounts_hooks.user_status_changed.subscribe
def retire_reviewed_sellers_pages(user_id, old_status: str, new_status: str) -> None:
    """A ban starts or ends: the listing pages showing the member's reviews are rebuilt."""
    if AccountStatus.BANNED not in (old_status, new_status):
        return
    reviewees = (
        Review.objects.filter(reviewer_id=user_id, published_at__isnull=False)
        .values_list("reviewee_id", flat=True)
        .distinct()
    )
    for reviewee_id in reviewees:
        seller_changed(reviewee_id)
