import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from listings.search.sync import SearchIndexBusy, search_reindex, search_sync_status
from listings.selectors import public_listings


class Command(BaseCommand):
    help = (
        "Rebuild the search engine's index from scratch (every listing anyone may find, one "
        "snapshot) beside the live one and swap it in atomically; outbox rows the snapshot "
        "covers are dropped, later ones applied by the sync job. --status: the index's "
        "documents and the outbox's backlog."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--status", action="store_true", help="Print the index and outbox status; change nothing."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be indexed; change nothing."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Build even with SEARCH_ENGINE off (to turn it on afterwards).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, status=False, dry_run=False, force=False, no_progress=False, **options):
        if status:
            self._status()
            return
        if not settings.SEARCH_ENGINE and not force:
            raise CommandError(
                "SEARCH_ENGINE is off: searches use PostgreSQL and nothing reads an index. Set "
                "SEARCH_ENGINE=tantivy, or pass --force to build one ahead of turning it on."
            )
        total = public_listings().count()
        if dry_run:
            self.stdout.write(
                f"Would index {total} listings into a new version of {settings.SEARCH_ENGINE_PATH}."
            )
            return
        show = not no_progress and options["verbosity"] >= 1 and sys.stderr.isatty()
        with tqdm(total=total, unit=" listings", disable=not show, desc="Indexing") as bar:
            try:
                result = search_reindex(progress=bar.update)
            except SearchIndexBusy as error:
                raise CommandError(f"{error}; try again.") from error
        self.stdout.write(
            f"Indexed {result.documents} listings in {result.seconds:.1f} s into {result.path}; "
            f"dropped {result.outbox_dropped} outbox rows the snapshot covers."
        )

    def _status(self):
        state = search_sync_status()
        documents = "no readable index" if state.documents is None else f"{state.documents} documents"
        oldest = "-" if state.oldest_age_seconds is None else f"{state.oldest_age_seconds:.0f} s"
        self.stdout.write(
            f"engine: {state.engine}; index: {documents} at {state.path}"
            f"{f' -> {state.version.name}' if state.version else ''}; "
            f"outbox: {state.backlog} rows, oldest {oldest}"
        )
