"""The search engine kept in sync (``listings.search.sync``): the outbox trigger (listings
migration 0017), the apply job, the reindex command, the prune, and the engine-off default.
Real PostgreSQL; each test's index lives in its own temporary directory."""

import threading
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.utils import timezone
from procrastinate.contrib.django import app

from accounts.services import user_ban
from listings.models import Listing
from listings.search import engine, sync
from listings.search.sync import search_outbox_apply, search_outbox_prune, search_reindex
from listings.selectors import public_listings
from tests.factories import CategoryFactory, ListingFactory, UserFactory
from tests.jobs import run_jobs

pytestmark = pytest.mark.django_db


def outbox() -> list[str]:
    """The outbox's listing ids, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT listing_id FROM listings_search_outbox ORDER BY id")
        return [str(row[0]) for row in cursor.fetchall()]


def empty_outbox() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM listings_search_outbox")


@pytest.fixture(autouse=True)
def _outbox_of_this_test_only():
    """Transactional tests elsewhere commit listing changes, and Django's flush (TRUNCATE)
    leaves this unmanaged table alone: start from an empty outbox."""
    empty_outbox()
    yield


@pytest.fixture
def engine_on(settings, tmp_path):
    settings.SEARCH_ENGINE = "tantivy"
    settings.SEARCH_ENGINE_PATH = str(tmp_path / "search-index")
    engine.reset_reader()
    yield Path(settings.SEARCH_ENGINE_PATH)
    engine.reset_reader()


@pytest.fixture
def empty_index(engine_on):
    """An empty live index, as a first reindex of an empty site leaves it."""
    assert engine.open_index(create=True) is not None
    return engine_on


def indexed(word: str | None = None) -> list[str]:
    """Ids of the documents matching ``word`` in title or description (all without), read
    from a freshly opened index (one entry per document: duplicates would show)."""
    import tantivy

    index = engine.open_index()
    assert index is not None
    searcher = index.searcher()
    query = tantivy.Query.all_query() if word is None else index.parse_query(word, ["title", "description"])
    hits = searcher.search(query, 10_000).hits
    return sorted(searcher.doc(address)["id"][0] for _, address in hits)


def document_count() -> int:
    return engine.open_index().searcher().num_docs


# --- The trigger -------------------------------------------------------------------------


def test_an_insert_writes_one_outbox_row_in_its_transaction():
    listing = ListingFactory()
    assert outbox() == [str(listing.pk)]


def test_a_delete_writes_one_outbox_row():
    listing = ListingFactory()
    empty_outbox()
    Listing.objects.filter(pk=listing.pk).delete()
    assert outbox() == [str(listing.pk)]


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Walnut desk"},
        {"description": "Solid walnut, two drawers."},
        {"attributes": {"width": 120}},
        {"currency": "EUR"},
        {"price_cents": 5_000},
        {"price_cents": None},
        {"pricing_type": "negotiable"},
        {"published_at": timezone.now() - timedelta(days=3)},
        {"location_lat": Decimal("40.7"), "location_lng": Decimal("-74.0")},
        {"status": Listing.Status.ARCHIVED},
        {"visibility": Listing.Visibility.PRIVATE},
    ],
    ids=lambda change: "+".join(change),
)
def test_an_update_of_an_indexed_or_searchability_column_writes_one_row(change):
    listing = ListingFactory()
    empty_outbox()
    Listing.objects.filter(pk=listing.pk).update(**change)
    assert outbox() == [str(listing.pk)]


def test_a_category_move_writes_one_row():
    listing = ListingFactory()
    empty_outbox()
    Listing.objects.filter(pk=listing.pk).update(category=CategoryFactory())
    assert outbox() == [str(listing.pk)]


def test_a_sellers_ban_writes_one_row_per_listing():
    listing = ListingFactory()
    empty_outbox()
    user_ban(
        user=listing.seller,
        actor=UserFactory(is_staff=True, is_superuser=True),
        reason="Counterfeit goods, twice.",
    )
    assert outbox() == [str(listing.pk)]


@pytest.mark.parametrize("counter", ["view_count", "favorite_count", "inquiry_count"])
def test_a_counter_update_writes_nothing(counter):
    listing = ListingFactory()
    empty_outbox()
    Listing.objects.filter(pk=listing.pk).update(**{counter: 7})
    assert outbox() == []


def test_a_full_save_that_changes_no_indexed_column_writes_nothing():
    listing = ListingFactory()
    empty_outbox()
    listing.featured = True  # shown on the home page, not indexed
    listing.save()
    assert outbox() == []


def test_a_rolled_back_change_leaves_no_row():
    listing = ListingFactory()
    empty_outbox()
    with pytest.raises(RuntimeError), transaction.atomic():
        Listing.objects.filter(pk=listing.pk).update(title="Walnut desk")
        ListingFactory()
        assert len(outbox()) == 2  # visible inside the transaction
        raise RuntimeError("rolled back")
    assert outbox() == []


# --- Apply -------------------------------------------------------------------------------


def test_a_new_public_listing_becomes_findable(empty_index):
    listing = ListingFactory(title="Walnut writing desk")
    draft = ListingFactory(title="Walnut shelf", status=Listing.Status.DRAFT)
    assert indexed("walnut") == []
    assert search_outbox_apply() == 2
    assert indexed("walnut") == [str(listing.pk)]  # the draft is not searchable
    assert outbox() == []
    assert str(draft.pk) not in indexed()


def test_an_edit_changes_what_matches(empty_index):
    listing = ListingFactory(title="Walnut writing desk")
    search_outbox_apply()
    Listing.objects.filter(pk=listing.pk).update(title="Oak writing desk")
    assert search_outbox_apply() == 1
    assert indexed("walnut") == []
    assert indexed("oak") == [str(listing.pk)]
    assert document_count() == 1


def _archive(listing):
    from listings.services import listing_archive

    listing_archive(listing=listing, actor=listing.seller)


def _hide(listing):
    Listing.objects.filter(pk=listing.pk).update(visibility=Listing.Visibility.PRIVATE)


def _ban(listing):
    user_ban(
        user=listing.seller,
        actor=UserFactory(is_staff=True, is_superuser=True),
        reason="Counterfeit goods, twice.",
    )


def _delete(listing):
    Listing.objects.filter(pk=listing.pk).delete()


@pytest.mark.parametrize("remove", [_archive, _hide, _ban, _delete], ids=lambda f: f.__name__.strip("_"))
def test_a_listing_that_stops_being_searchable_leaves_the_index(empty_index, remove):
    listing, other = ListingFactory(title="Walnut desk"), ListingFactory(title="Walnut chair")
    search_outbox_apply()
    assert indexed("walnut") == sorted([str(listing.pk), str(other.pk)])
    remove(listing)
    assert search_outbox_apply() >= 1
    assert indexed("walnut") == [str(other.pk)]
    assert outbox() == []


def test_applying_twice_changes_nothing(empty_index):
    listings = [ListingFactory(title=f"Walnut desk {n}") for n in range(3)]
    assert search_outbox_apply() == 3
    assert search_outbox_apply() == 0
    # The same changes delivered again (a crash after the index commit): the same index.
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO listings_search_outbox (listing_id) VALUES (%s)", [[x.pk] for x in listings * 2]
        )
    assert search_outbox_apply(batch=4) == 6  # over two batches, in one run
    assert indexed("walnut") == sorted(str(x.pk) for x in listings)
    assert document_count() == 3


def test_outbox_rows_are_deleted_only_after_the_index_commit(empty_index, monkeypatch):
    listing = ListingFactory(title="Walnut desk")

    def crash(row_ids):
        raise RuntimeError("the worker died between the index commit and the delete")

    monkeypatch.setattr(sync, "_delete_applied", crash)
    with pytest.raises(RuntimeError):
        search_outbox_apply()
    assert indexed("walnut") == [str(listing.pk)]  # the index commit happened
    assert outbox() == [str(listing.pk)]  # the rows stay: applied again next time
    monkeypatch.undo()
    assert search_outbox_apply() == 1
    assert outbox() == []
    assert indexed() == [str(listing.pk)]


def test_an_index_failure_leaves_the_rows_and_the_index_as_they_were(empty_index, monkeypatch):
    kept = ListingFactory(title="Walnut desk")
    search_outbox_apply()
    ListingFactory(title="Walnut chair")

    def broken(listing_ids):
        raise RuntimeError("cannot read the listings")

    monkeypatch.setattr(engine, "documents_for", broken)
    with pytest.raises(RuntimeError):
        search_outbox_apply()
    assert len(outbox()) == 1
    assert indexed() == [str(kept.pk)]


def test_a_held_writer_lock_is_busy_not_a_crash(empty_index):
    ListingFactory(title="Walnut desk")
    writer = engine.open_index().writer(15_000_000, 1)  # another process writing the index
    try:
        assert search_outbox_apply() == 0
    finally:
        writer.wait_merging_threads()
    assert len(outbox()) == 1
    assert search_outbox_apply() == 1


def test_a_missing_or_corrupt_index_applies_nothing_and_keeps_the_rows(engine_on):
    ListingFactory(title="Walnut desk")
    assert search_outbox_apply() == 0  # no index yet: run search_reindex
    engine_on.mkdir(parents=True)
    (engine_on / "meta.json").write_text("{half a file")
    assert engine.open_index() is None
    assert search_outbox_apply() == 0
    assert len(outbox()) == 1


def test_the_job_applies_the_outbox(empty_index):
    listing = ListingFactory(title="Walnut desk")
    app.tasks["listings.search_sync"].defer(timestamp=0)
    assert run_jobs() == 1
    assert indexed("walnut") == [str(listing.pk)]


# --- Engine off --------------------------------------------------------------------------


def test_with_the_engine_off_no_job_is_scheduled_and_nothing_opens_the_index(settings, monkeypatch):
    assert settings.SEARCH_ENGINE == ""
    app.perform_import_paths()
    scheduled = {periodic.task.name: periodic for periodic in app.periodic_registry.periodic_tasks.values()}
    assert "listings.search_sync" not in scheduled
    assert scheduled["listings.search_outbox_prune"].task.queueing_lock == "listings.search_outbox_prune"

    def forbidden(**kwargs):
        raise AssertionError("the index was opened with the engine off")

    monkeypatch.setattr(engine, "open_index", forbidden)
    ListingFactory(title="Walnut desk")
    assert search_outbox_apply() == 0
    app.tasks["listings.search_sync"].defer(timestamp=0)  # queued by hand: still a no-op
    assert run_jobs() == 1
    assert len(outbox()) == 1


SCHEDULE_PROBE = """
import django
django.setup()
from procrastinate.contrib.django import app
app.perform_import_paths()
for periodic in app.periodic_registry.periodic_tasks.values():
    if periodic.task.name == "listings.search_sync":
        print(periodic.cron, periodic.task.queueing_lock)
"""


def test_with_the_engine_on_the_worker_schedules_the_sync_every_few_seconds():
    """The schedule is read when the worker starts (the module's import): a fresh process."""
    import os
    import subprocess
    import sys

    import croniter

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "marketplace.settings", "DEBUG": "true"}
    env.update(SEARCH_ENGINE="tantivy", SEARCH_SYNC_INTERVAL_SECONDS="5")
    probe = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", SCHEDULE_PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    cron, lock = probe.stdout.strip().rsplit(" ", 1)
    assert lock == "listings.search_sync"  # at most one run waiting
    start = timezone.now().replace(second=0, microsecond=0)
    ticks = croniter.croniter(cron, start)
    assert [(ticks.get_next(type(start)) - start).total_seconds() for _ in range(3)] == [5, 10, 15]


def _aged_rows(hours: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE listings_search_outbox SET created_at = now() - make_interval(hours => %s)", [hours]
        )


def test_the_prune_keeps_the_outbox_bounded_with_the_engine_off(settings, tmp_path):
    settings.SEARCH_ENGINE_PATH = str(tmp_path / "search-index")
    settings.SEARCH_OUTBOX_KEEP_HOURS = 24
    old = ListingFactory()
    _aged_rows(25)
    recent = ListingFactory()
    # No index anywhere: nothing could ever apply a row.
    app.tasks["listings.search_outbox_prune"].defer(timestamp=0)
    assert run_jobs() == 1
    assert outbox() == []

    # An index built ahead (search_reindex --force): rows within the window are kept, for it
    # to catch up when the engine is turned on.
    (tmp_path / "search-index").mkdir()
    Listing.objects.filter(pk__in=[old.pk, recent.pk]).update(title="Walnut desk")
    Listing.objects.filter(pk=old.pk).update(title="Oak desk")
    _aged_rows(25)
    Listing.objects.filter(pk=recent.pk).update(title="Teak desk")
    assert search_outbox_prune() == 3
    assert outbox() == [str(recent.pk)]


def test_the_prune_leaves_the_outbox_to_the_apply_with_the_engine_on(engine_on):
    ListingFactory()
    _aged_rows(100)
    assert search_outbox_prune() == 0
    assert len(outbox()) == 1


# --- Reindex -----------------------------------------------------------------------------


def test_reindex_from_an_empty_directory_indexes_every_public_listing(engine_on):
    public = [ListingFactory(title=f"Walnut desk {n}") for n in range(5)]
    ListingFactory(title="Walnut draft", status=Listing.Status.DRAFT)
    ListingFactory(title="Walnut secret", visibility=Listing.Visibility.PRIVATE)
    assert len(outbox()) == 7
    result = search_reindex(chunk=2)
    assert result.documents == public_listings().count() == 5
    assert result.outbox_dropped == 7
    assert outbox() == []
    assert engine_on.is_symlink() and engine_on.resolve() == result.path
    assert indexed("walnut") == sorted(str(x.pk) for x in public)


def test_reindex_over_an_existing_index_swaps_atomically_for_readers(empty_index):
    first = ListingFactory(title="Walnut desk")
    search_outbox_apply()
    searcher_before = engine.open_index().searcher()  # the index written in place, before any reindex
    second = ListingFactory(title="Walnut chair")

    result = search_reindex()
    assert result.documents == 2
    # Opened before the swap: its searcher keeps the old documents (the in-place directory was
    # renamed aside, so a reload would follow the path to the new version).
    assert searcher_before.num_docs == 1
    # Opened after: the new one.
    assert indexed("walnut") == sorted([str(first.pk), str(second.pk)])

    third = ListingFactory(title="Walnut lamp")
    before_second_reindex = engine.open_index()
    again = search_reindex()
    assert again.documents == public_listings().count() == 3
    # Opened before the swap of one version for another: keeps its version, reloads included.
    before_second_reindex.reload()
    assert before_second_reindex.searcher().num_docs == 2
    assert indexed("walnut") == sorted(str(x.pk) for x in (first, second, third))
    # The live version and the one before it are kept (readers may still use it); no more.
    versions = sorted(p.name for p in empty_index.parent.glob(f"{empty_index.name}.*"))
    assert versions == sorted([result.path.name, again.path.name])


def test_a_failed_reindex_leaves_the_live_index_and_the_outbox(empty_index, monkeypatch):
    listing = ListingFactory(title="Walnut desk")
    search_outbox_apply()
    ListingFactory(title="Walnut chair")

    def broken(row):
        raise RuntimeError("cannot make a document")

    monkeypatch.setattr(engine, "document", broken)
    with pytest.raises(RuntimeError):
        search_reindex()
    assert indexed() == [str(listing.pk)]
    assert len(outbox()) == 1
    assert [p for p in empty_index.parent.glob(f"{empty_index.name}.*")] == []


def test_the_command_refuses_with_the_engine_off_and_builds_with_force(settings, tmp_path):
    settings.SEARCH_ENGINE_PATH = str(tmp_path / "search-index")
    ListingFactory(title="Walnut desk")
    with pytest.raises(CommandError, match="SEARCH_ENGINE is off"):
        call_command("search_reindex")
    assert not (tmp_path / "search-index").exists()
    out = StringIO()
    call_command("search_reindex", "--force", "--dry-run", stdout=out)
    assert "Would index 1 listings" in out.getvalue()
    assert not (tmp_path / "search-index").exists()
    call_command("search_reindex", "--force", stdout=out)
    assert "Indexed 1 listings in" in out.getvalue()
    assert "dropped 1 outbox rows" in out.getvalue()


def test_the_status_line(engine_on):
    out = StringIO()
    call_command("search_reindex", "--status", stdout=out)
    assert "engine: tantivy; index: no readable index" in out.getvalue()
    ListingFactory(title="Walnut desk")
    call_command("search_reindex", stdout=StringIO())
    ListingFactory(title="Walnut chair")
    _aged_rows(1)
    out = StringIO()
    call_command("search_reindex", "--status", stdout=out)
    line = out.getvalue()
    assert "index: 1 documents at" in line
    assert "outbox: 1 rows, oldest 36" in line  # 3600 s, give or take the test's seconds


# --- Concurrency (real connections) ------------------------------------------------------


def _in_thread(target, results, errors):
    def run():
        try:
            results.append(target())
        except BaseException as error:  # noqa: BLE001 - reported on the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    return threading.Thread(target=run)


@pytest.mark.django_db(transaction=True)
def test_two_applies_at_once_index_each_change_once(settings, tmp_path):
    settings.SEARCH_ENGINE = "tantivy"
    settings.SEARCH_ENGINE_PATH = str(tmp_path / "search-index")
    engine.open_index(create=True)
    listings = [ListingFactory(title=f"Walnut desk {n}") for n in range(40)]
    barrier = threading.Barrier(2)
    results, errors = [], []

    def apply():
        barrier.wait()
        return search_outbox_apply(batch=5)

    threads = [_in_thread(apply, results, errors) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(results) == 40  # every row applied once; a busy apply stopped, none failed
    assert outbox() == []
    assert indexed("walnut") == sorted(str(x.pk) for x in listings)


@pytest.mark.django_db(transaction=True)
def test_an_apply_while_another_connection_holds_the_lock_is_busy(settings, tmp_path):
    settings.SEARCH_ENGINE = "tantivy"
    settings.SEARCH_ENGINE_PATH = str(tmp_path / "search-index")
    engine.open_index(create=True)
    ListingFactory(title="Walnut desk")
    held, release = threading.Event(), threading.Event()
    results, errors = [], []

    def hold():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [sync.SYNC_LOCK_KEY])
            held.set()
            release.wait(10)

    thread = _in_thread(hold, results, errors)
    thread.start()
    assert held.wait(10)
    try:
        assert search_outbox_apply() == 0
        assert search_outbox_prune() == 0
    finally:
        release.set()
        thread.join()
    assert errors == []
    assert search_outbox_apply() == 1


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_during_a_reindex_is_applied_after_it(settings, tmp_path):
    settings.SEARCH_ENGINE = "tantivy"
    settings.SEARCH_ENGINE_PATH = str(tmp_path / "search-index")
    before = [ListingFactory(title=f"Walnut desk {n}") for n in range(4)]
    results, errors = [], []
    during: list[Listing] = []

    def change_during_the_build(count):
        if during:
            return

        # Another connection commits while the snapshot is being indexed; an apply in the
        # meantime finds the index busy (the reindex holds the sync lock).
        def write():
            during.append(ListingFactory(title="Walnut lamp"))
            Listing.objects.filter(pk=before[0].pk).update(title="Oak desk")
            return search_outbox_apply()

        thread = _in_thread(write, results, errors)
        thread.start()
        thread.join()

    result = search_reindex(chunk=2, progress=change_during_the_build)
    assert errors == [] and results == [0]
    assert result.documents == 4  # the snapshot's
    assert sorted(outbox()) == sorted([str(during[0].pk), str(before[0].pk)])  # kept for the apply
    assert indexed("oak") == []
    assert search_outbox_apply() == 2
    assert indexed("oak") == [str(before[0].pk)]
    assert indexed("walnut") == sorted([str(x.pk) for x in before[1:]] + [str(during[0].pk)])


def test_the_sites_reader_follows_applies_and_reindexes(engine_on):
    ListingFactory(title="Walnut desk")
    search_reindex()
    assert engine.reader().searcher().num_docs == 1
    ListingFactory(title="Walnut chair")
    search_outbox_apply()
    assert engine.reader().searcher().num_docs == 2  # the apply's commit, seen by the next search
    ListingFactory(title="Walnut lamp")
    search_reindex()
    assert engine.reader().searcher().num_docs == 3  # the swapped-in version, not the old one reloaded


def test_a_move_to_a_banned_seller_writes_one_row():
    """seller_id is not indexed, but the ban flag it brings (set by a BEFORE trigger) is."""
    listing = ListingFactory()
    banned = ListingFactory().seller
    user_ban(
        user=banned, actor=UserFactory(is_staff=True, is_superuser=True), reason="Counterfeit goods, twice."
    )
    empty_outbox()
    Listing.objects.filter(pk=listing.pk).update(seller=banned)
    assert Listing.objects.get(pk=listing.pk).seller_banned
    assert outbox() == [str(listing.pk)]


def test_the_sites_reader_falls_back_when_the_index_breaks_under_it(engine_on):
    """A reader opened on a good index whose files then break (a disk error, a hand edit):
    no index (PostgreSQL answers), not an exception; a reindex brings it back."""
    ListingFactory(title="Walnut desk")
    search_reindex()
    assert engine.reader().searcher().num_docs == 1
    (engine_on / "meta.json").write_text("{half a file")
    assert engine.reader() is None
    search_reindex()
    assert engine.reader().searcher().num_docs == 1


def test_a_writer_killed_mid_batch_leaves_an_index_the_next_apply_can_write(empty_index):
    """tantivy's writer lock is a lock on an open file: it dies with its process."""
    import os
    import subprocess
    import sys

    script = (
        f"import tantivy, time; index = tantivy.Index.open({str(empty_index)!r}); "
        "writer = index.writer(15_000_000, 1); print('holding', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert holder.stdout.readline().strip() == "holding"
        ListingFactory(title="Walnut desk")
        assert search_outbox_apply() == 0  # busy while it lives
    finally:
        holder.kill()
        holder.wait()
    assert os.path.exists(empty_index / ".tantivy-writer.lock")  # left behind, but not held
    assert search_outbox_apply() == 1
    assert len(indexed("walnut")) == 1
