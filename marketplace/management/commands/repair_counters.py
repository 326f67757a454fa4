from django.core.management.base import BaseCommand, CommandError

from marketplace.counters import CountersBusy, counters_repair


class Command(BaseCommand):
    help = (
        "Verify every trigger-kept counter (favorites, inquiries, ratings, review flags, sales, "
        "last message) "
        "against the rows it counts and fix the wrong ones. With --dry-run, change nothing and "
        "exit non-zero when any is wrong, for monitoring."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count wrong rows; change nothing; fail if any."
        )

    def handle(self, *args, dry_run, **options):
        try:
            report = counters_repair(dry_run=dry_run)
        except CountersBusy as error:
            raise CommandError(str(error)) from error
        for label, wrong in report.items():
            if not wrong:
                self.stdout.write(f"{label}: ok")
            elif dry_run:
                self.stdout.write(f"{label}: {wrong} rows wrong")
            else:
                self.stdout.write(f"{label}: {wrong} rows wrong, fixed")
        total = sum(report.values())
        if not total:
            self.stdout.write(self.style.SUCCESS("All counters are correct."))
        elif dry_run:
            raise CommandError(f"{total} rows have wrong counters; run without --dry-run to fix them.")
        else:
            self.stdout.write(self.style.WARNING(f"Fixed {total} rows."))
