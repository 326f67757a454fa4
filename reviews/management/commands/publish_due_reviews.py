from django.core.management.base import BaseCommand
from django.db import connection

from reviews.services import reviews_due, reviews_publish_due

# pg_try_advisory_lock key: the bytes of "revpubl" read as an integer (fits a bigint).
ADVISORY_LOCK_KEY = int.from_bytes(b"revpubl", "big")


class Command(BaseCommand):
    help = (
        "Publish the reviews whose review window has closed (the other party never reviewed). "
        "Idempotent and safe to run twice at once (an advisory lock: a second run exits at once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Say how many are due; publish nothing.")

    def handle(self, *args, dry_run, **options):
        if dry_run:
            due = reviews_due().count()
            self.stdout.write(
                f"{due} review{'s' if due != 1 else ''} due for publication (dry run: nothing published)."
            )
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            if not cursor.fetchone()[0]:
                self.stdout.write("Another publish_due_reviews run is in progress; nothing done.")
                return
        try:
            published = reviews_publish_due()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
        self.stdout.write(self.style.SUCCESS(f"Published {published} review{'s' if published != 1 else ''}."))
