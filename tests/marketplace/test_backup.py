"""manage.py backup / restore: a seeded marketplace survives the round trip, row for row and
cent for cent, and a restore never overwrites a database that holds data unless forced."""

import json
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from marketplace.backup import backups_in, collect_stats
from payments.ledger import platform_totals_sql
from payments.models import LedgerEntry
from tests.factories import FavoriteFactory, MessageFactory, ReviewFactory, TransactionFactory
from tests.payments.purchase_helpers import paid

RESTORED = "test_privacy_backup_restored"


def _drop(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def restored_name():
    name = f"{connection.settings_dict['NAME']}_restored"[:63]
    _drop(name)
    yield name
    _drop(name)


@pytest.fixture
def media_dirs(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    (settings.MEDIA_ROOT / "avatars").mkdir(parents=True)
    (settings.MEDIA_ROOT / "avatars" / "a.jpg").write_bytes(b"avatar")
    settings.PRIVATE_MEDIA_ROOT.mkdir()
    (settings.PRIVATE_MEDIA_ROOT / "note.txt").write_bytes(b"private")
    return settings


def seed():
    """Listings, paid orders with ledger rows, a completed one reviewed, messages, favorites."""
    orders = [paid() for _ in range(3)]
    completed = TransactionFactory()
    ReviewFactory(transaction=completed)
    for order in orders:
        MessageFactory(conversation__listing=order.listing, conversation__buyer=order.buyer)
        FavoriteFactory(user=order.buyer)
    return orders


def _stats(dbname: str) -> dict:
    params = {
        k: v for k, v in connection.get_connection_params().items() if k not in ("context", "cursor_factory")
    }
    params["dbname"] = dbname
    with psycopg.connect(**params, autocommit=True) as conn, conn.cursor() as cursor:
        return collect_stats(cursor, {"ledger": platform_totals_sql()})


@pytest.mark.usefixtures("ledger_db")
def test_backup_then_restore_into_a_new_database_keeps_every_row_and_the_ledger(
    media_dirs, tmp_path, restored_name
):
    seed()
    assert LedgerEntry.objects.count() >= 6
    out = StringIO()
    call_command("backup", dir=str(tmp_path / "backups"), stdout=out)
    [archive] = backups_in(tmp_path / "backups")
    manifest = json.loads((archive / "manifest.json").read_text())
    assert manifest["tables"]["public.payments_ledgerentry"] == LedgerEntry.objects.count()
    assert manifest["ledger"] and manifest["ledger"][0][0] == "USD"
    assert set(manifest["files"]) == {"database.dump", "media.tar.gz"}

    restore_media = tmp_path / "restored-media"
    media_dirs.MEDIA_ROOT = restore_media / "media"
    media_dirs.PRIVATE_MEDIA_ROOT = restore_media / "private"
    out = StringIO()
    call_command("restore", str(archive), database_name=restored_name, media=True, stdout=out)
    assert "verified" in out.getvalue()

    original, restored = _stats(connection.settings_dict["NAME"]), _stats(restored_name)
    assert restored["tables"] == original["tables"] == manifest["tables"]
    assert restored["ledger"] == original["ledger"] == manifest["ledger"]
    assert original["tables"]["public.reviews_review"] == 1
    assert original["tables"]["public.messaging_message"] == 3
    assert (restore_media / "media" / "avatars" / "a.jpg").read_bytes() == b"avatar"
    assert (restore_media / "private" / "note.txt").read_bytes() == b"private"


@pytest.mark.usefixtures("ledger_db")
def test_restore_refuses_a_non_empty_database_without_force_and_changes_nothing(
    media_dirs, tmp_path, restored_name
):
    seed()
    call_command("backup", dir=str(tmp_path / "backups"), no_media=True, stdout=StringIO())
    [archive] = backups_in(tmp_path / "backups")
    call_command("restore", str(archive), database_name=restored_name, stdout=StringIO())
    # Something changes in the restored database after the backup.
    params = {
        k: v for k, v in connection.get_connection_params().items() if k not in ("context", "cursor_factory")
    }
    params["dbname"] = restored_name
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute("DELETE FROM listings_favorite")
    before = _stats(restored_name)
    with pytest.raises(CommandError, match="is not empty .* --force"):
        call_command("restore", str(archive), database_name=restored_name, stdout=StringIO())
    assert _stats(restored_name) == before
    # The configured database too.
    with pytest.raises(CommandError, match="is not empty"):
        call_command("restore", str(archive), stdout=StringIO())

    call_command("restore", str(archive), database_name=restored_name, force=True, stdout=StringIO())
    assert _stats(restored_name)["tables"]["public.listings_favorite"] == 3


def test_a_damaged_backup_is_refused(tmp_path, media_dirs, transactional_db):
    call_command("backup", dir=str(tmp_path / "b"), stdout=StringIO())
    [archive] = backups_in(tmp_path / "b")
    with (archive / "database.dump").open("ab") as dump:
        dump.write(b"x")
    with pytest.raises(CommandError, match="damaged"):
        call_command("restore", str(archive), database_name=RESTORED, stdout=StringIO())


def test_retention_keeps_the_newest(tmp_path, media_dirs, transactional_db):
    from datetime import UTC, datetime, timedelta

    from marketplace.backup import backup_create, backups_prune

    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = [backup_create(destination=tmp_path, media=False, now=start + timedelta(days=i)) for i in range(3)]
    (tmp_path / "backup-20200101T000000Z.partial").mkdir()  # a crashed run is not a backup
    assert backups_prune(destination=tmp_path, keep=2) == made[:1]
    assert backups_in(tmp_path) == made[1:]


@pytest.mark.usefixtures("ledger_db")
def test_a_test_restore_beside_the_live_database_leaves_the_live_media_alone(
    media_dirs, tmp_path, restored_name
):
    call_command("backup", dir=str(tmp_path / "backups"), stdout=StringIO())
    [archive] = backups_in(tmp_path / "backups")
    live = tmp_path / "live-media"
    media_dirs.MEDIA_ROOT = live / "media"
    media_dirs.PRIVATE_MEDIA_ROOT = live / "private"
    out = StringIO()
    call_command("restore", str(archive), database_name=restored_name, stdout=out)
    assert "Media not restored" in out.getvalue()
    assert not live.exists()
