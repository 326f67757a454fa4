"""``manage.py backup``: one backup directory (database dump, media, manifest); see
``marketplace.backup`` and README "Backups"."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from marketplace.backup import BackupError, backup_create, backups_prune
from payments.ledger import platform_totals_sql


def stats_queries() -> dict[str, str]:
    """The figures a backup records beyond row counts, and a restore checks."""
    return {"ledger": platform_totals_sql()}


class Command(BaseCommand):
    help = "Back up the database (pg_dump, custom format) and the media into one directory with a manifest."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=None, help="Where backups go (default: BACKUP_DIR).")
        parser.add_argument(
            "--keep",
            type=int,
            default=None,
            help="Keep this many newest backups, deleting older ones (BACKUP_KEEP).",
        )
        parser.add_argument("--no-media", action="store_true", help="Database only.")

    def handle(self, *args, **options):
        destination = Path(options["dir"] or settings.BACKUP_DIR)
        keep = options["keep"] if options["keep"] is not None else settings.BACKUP_KEEP
        try:
            path = backup_create(
                destination=destination, stats_queries=stats_queries(), media=not options["no_media"]
            )
            pruned = backups_prune(destination=destination, keep=keep) if keep else []
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Backup written to {path}")
        for old in pruned:
            self.stdout.write(f"Deleted old backup {old}")
