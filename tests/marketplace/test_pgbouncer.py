"""The application behind PgBouncer in transaction-pooling mode (Debian's ``pgbouncer``).

A PgBouncer process of its own (a free loopback port, ``pool_mode = transaction``, two server
connections at most) sits in front of the test database; the ``default`` connection is pointed
at it with the settings README's "Connection pooling and PgBouncer" gives for production
(``DB_BEHIND_PGBOUNCER``: no server-side cursors, no prepared statements). The buy journey, a
search and a message then run through it, and its admin console proves the traffic went there.
"""

import os
import shutil
import subprocess
import time
import uuid

import psycopg
import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse

from listings.models import Listing
from marketplace.embedded import BASE_DIR, free_port
from messaging.models import Message
from messaging.services import conversation_open, message_send
from payments.models import LedgerEntry, Transaction
from tests.factories import ListingFactory, UserFactory
from tests.payments.purchase_helpers import paid, release

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@pytest.fixture
def pgbouncer(transactional_db):
    """PgBouncer in front of the test database, and ``default`` pointed at it (restored after)."""
    primary = connections["default"].settings_dict
    host = primary["HOST"] or primary["OPTIONS"].get("host")
    port = free_port()
    # Under .data/: PgBouncer refuses to run as root, so it runs as the database's system user.
    directory = BASE_DIR / ".data" / f"test-pgbouncer-{os.getpid()}-{port}"
    directory.mkdir(parents=True)
    user = "embedded_postgres" if os.geteuid() == 0 else None
    if user:
        shutil.chown(directory, user, user)
    (directory / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"{primary['NAME']} = host={host} port={primary['PORT'] or 5432} user=postgres",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = any",
                "admin_users = postgres",
                "pool_mode = transaction",
                "default_pool_size = 2",
                "max_client_conn = 50",
                f"logfile = {directory / 'pgbouncer.log'}",
                f"pidfile = {directory / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    process = subprocess.Popen([PGBOUNCER, str(directory / "pgbouncer.ini")], user=user)  # noqa: S603
    deadline = time.monotonic() + 15
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=port, dbname="pgbouncer", user="postgres").close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"pgbouncer did not start: {(directory / 'pgbouncer.log').read_text()}")
            time.sleep(0.1)

    saved = {key: primary[key] for key in ("HOST", "PORT", "OPTIONS", "DISABLE_SERVER_SIDE_CURSORS")}
    connections["default"].close()
    primary.update(
        HOST="127.0.0.1",
        PORT=str(port),
        # Django already sends no prepared statements (prepare_threshold None) unless told to.
        OPTIONS={k: v for k, v in primary["OPTIONS"].items() if k != "host"},
        DISABLE_SERVER_SIDE_CURSORS=True,
    )
    try:
        yield port
    finally:
        connections["default"].close()
        primary.update(saved)
        process.terminate()
        process.wait(timeout=15)
        shutil.rmtree(directory, ignore_errors=True)


def bouncer_stats(port: int) -> dict:
    """SHOW STATS of the test database on the PgBouncer admin console."""
    with psycopg.connect(
        host="127.0.0.1", port=port, dbname="pgbouncer", user="postgres", autocommit=True
    ) as admin:
        cursor = admin.execute("SHOW STATS")
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    # A database has a row once a client used it.
    found = [row for row in rows if row["database"] == connections["default"].settings_dict["NAME"]]
    return found[0] if found else {"total_xact_count": 0}


def test_the_buy_journey_a_search_and_a_message_work_through_pgbouncer_in_transaction_mode(
    pgbouncer, ledger_db
):
    assert connections["default"].settings_dict["PORT"] == str(pgbouncer)
    before = bouncer_stats(pgbouncer)

    # The buy journey: checkout started, paid, receipt confirmed, escrow released to the seller.
    word = f"bouncer{uuid.uuid4().hex[:8]}"
    listing = ListingFactory(title=f"Teak chair {word}", description=f"A {word} chair.")
    txn = release(paid(listing=listing))
    txn.refresh_from_db()
    assert txn.status == Transaction.Status.COMPLETED
    assert Listing.objects.get(pk=listing.pk).status == Listing.Status.SOLD
    assert LedgerEntry.objects.filter(transaction=txn, kind=LedgerEntry.Kind.TRANSFER).exists()

    # A search, through the page (the search service and its count in one request).
    other = ListingFactory(title=f"Oak chair {word}", description=f"An oak {word} chair.")
    page = Client().get(reverse("listings:search"), {"q": word})
    assert page.status_code == 200 and other.title in page.content.decode()

    # A message: the conversation opened and the message stored once, a retry deduplicated.
    buyer = UserFactory()
    conversation, _ = conversation_open(buyer=buyer, seller=other.seller, listing=other)
    client_id = uuid.uuid4()
    for _ in range(2):
        message_send(
            conversation=conversation, sender=buyer, body="Is it still available?", client_id=client_id
        )
    assert Message.objects.filter(conversation=conversation).count() == 1

    after = bouncer_stats(pgbouncer)
    assert after["total_xact_count"] - before["total_xact_count"] > 20  # it all went through PgBouncer
