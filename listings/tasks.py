"""Listings' periodic jobs: the view-count flush (the ``flush_view_counts`` command by hand),
and the search engine's sync (``listings.search.sync``: applying the outbox, pruning it)."""

from django.conf import settings
from procrastinate.contrib.django import app

from listings.search.sync import search_outbox_apply, search_outbox_prune
from listings.view_counts import view_counts_flush


@app.periodic(cron="* * * * *")
@app.task(name="listings.flush_view_counts", queueing_lock="listings.flush_view_counts")
def flush_view_counts(timestamp: int) -> int:
    """Every minute: apply the views counted in Redis to ``view_count`` (safe to run twice at
    once: flushes take an advisory lock in turn); how many views were applied."""
    return view_counts_flush().views


@app.task(name="listings.search_sync", queueing_lock="listings.search_sync")
def search_sync(timestamp: int = 0) -> int:
    """Apply the search outbox to the engine's index (``search_outbox_apply``); how many
    outbox rows were applied. Scheduled every ``SEARCH_SYNC_INTERVAL_SECONDS`` only when
    ``SEARCH_ENGINE`` is on (and a no-op if run with it off). A busy index (another apply, a
    reindex) ends the run early: the next tick goes on."""
    return search_outbox_apply()


if settings.SEARCH_ENGINE:
    app.periodic(cron=f"* * * * * */{settings.SEARCH_SYNC_INTERVAL_SECONDS}")(search_sync)


@app.periodic(cron="*/10 * * * *")
@app.task(name="listings.search_outbox_prune", queueing_lock="listings.search_outbox_prune")
def prune_search_outbox(timestamp: int = 0) -> int:
    """With the engine off, keep the search outbox bounded (``search_outbox_prune``): rows
    older than ``SEARCH_OUTBOX_KEEP_HOURS`` deleted; how many. Nothing with the engine on."""
    return search_outbox_prune()
