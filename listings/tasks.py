"""Listings' periodic job: the view-count flush (the ``flush_view_counts`` command by hand)."""

from procrastinate.contrib.django import app

from listings.view_counts import view_counts_flush


@app.periodic(cron="* * * * *")
@app.task(name="listings.flush_view_counts", queueing_lock="listings.flush_view_counts")
def flush_view_counts(timestamp: int) -> int:
    """Every minute: apply the views counted in Redis to ``view_count`` (safe to run twice at
    once: flushes take an advisory lock in turn); how many views were applied."""
    return view_counts_flush().views
