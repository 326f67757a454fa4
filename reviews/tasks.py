"""Reviews' periodic job: publishing reviews whose window closed (``publish_due_reviews`` by hand)."""

from procrastinate.contrib.django import app

from reviews.services import reviews_publish_due


@app.periodic(cron="*/5 * * * *")
@app.task(name="reviews.publish_due_reviews", queueing_lock="reviews.publish_due_reviews")
def publish_due_reviews(timestamp: int) -> int:
    """Every 5 minutes: publish the reviews whose window closed; how many (safe to run twice
    at once: each purchase SKIP LOCKED, each review published once under its row lock)."""
    return reviews_publish_due()
