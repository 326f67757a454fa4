from django.core.management.base import BaseCommand

from listings.view_counts import FlushResult, view_counts_flush, view_counts_pending


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


class Command(BaseCommand):
    help = (
        "Apply the listing page views counted in Redis to listings' view_count (one UPDATE per "
        "batch). Safe to run concurrently and repeatedly; a batch left by a crashed run is retried."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be flushed; change nothing."
        )

    def handle(self, *args, dry_run=False, **options):
        result: FlushResult = view_counts_pending() if dry_run else view_counts_flush()
        summary = (
            f"{_plural(result.views, 'view')} of {_plural(result.listings, 'listing')} "
            f"in {_plural(result.batches, 'batch', 'batches')}"
        )
        self.stdout.write(f"Would flush {summary}." if dry_run else f"Flushed {summary}.")
