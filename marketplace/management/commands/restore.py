"""``manage.py restore ARCHIVE``: restore a backup made by ``manage.py backup`` and verify it."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from marketplace.backup import BackupError, backup_restore
from marketplace.management.commands.backup import stats_queries


class Command(BaseCommand):
    help = (
        "Restore a backup directory into the configured database (refused when it holds tables, "
        "unless --force) or into a new one (--database-name), then compare it with the manifest."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="A backup directory (BACKUP_DIR/backup-...).")
        parser.add_argument(
            "--database-name", default=None, help="Restore into this database (created if absent)."
        )
        parser.add_argument(
            "--force", action="store_true", help="Replace the contents of a non-empty database."
        )
        parser.add_argument("--no-media", action="store_true", help="Do not extract the media files.")
        parser.add_argument(
            "--media",
            action="store_true",
            help="With --database-name, also extract the media over MEDIA_ROOT (the live site's "
            "files: off by default there, as a test restore beside the live database must not "
            "put deleted or expired files back).",
        )

    def handle(self, *args, **options):
        beside_live = options["database_name"] is not None
        media = not options["no_media"] and (not beside_live or options["media"])
        if beside_live and not media and not options["no_media"]:
            self.stdout.write(
                "Media not restored: --database-name restores beside the live site (add --media)."
            )
        try:
            restored = backup_restore(
                archive=Path(options["archive"]),
                database=options["database_name"],
                force=options["force"],
                media=media,
                stats_queries=stats_queries(),
                progress=self.stdout.write,
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(restored["tables"].values())
        self.stdout.write(
            f"Restored and verified: {len(restored['tables'])} tables, {rows} rows, ledger totals equal."
        )
