"""The reviews' domain events: where notifications hook in.

Each is a :class:`marketplace.events.Hook`, called through ``marketplace.events.after_commit``
by the reviews services (and by ``reviews/subscribers.py`` for ``review_requested``), so a
subscriber never hears of a review that was rolled back. Subscribe from your app's
``AppConfig.ready()``::

    from reviews import hooks

    @hooks.review_received.subscribe
    def notify_reviewee(review): ...
"""

from marketplace.events import Hook

review_requested = Hook(
    "reviews.review_requested",
    "review_requested(transaction, user): the purchase became reviewable (receipt confirmed or escrow "
    "released, whichever came first); called once for the buyer and once for the seller.",
)
review_received = Hook(
    "reviews.review_received",
    "review_received(review): the review was published (both parties reviewed, or the window closed); "
    "tell its reviewee. Called once per review.",
)
review_responded = Hook(
    "reviews.review_responded",
    "review_responded(review): the reviewee responded to the published review; tell its author.",
)
