from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analytics.partitions import maintain_partitions


class Command(BaseCommand):
    help = (
        "Create the monthly partitions of analytics events ahead of time, move rows waiting in "
        "the DEFAULT partition into them, and drop or detach partitions past retention."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--ahead",
            type=int,
            default=settings.EVENTS_PARTITIONS_AHEAD,
            help="Months after the current one to create (default: EVENTS_PARTITIONS_AHEAD).",
        )
        parser.add_argument(
            "--retention-months",
            type=int,
            default=settings.EVENTS_RETENTION_MONTHS,
            help="Months of events to keep (default: EVENTS_RETENTION_MONTHS).",
        )
        parser.add_argument(
            "--action",
            choices=["drop", "detach"],
            default=settings.EVENTS_RETENTION_ACTION,
            help="What to do with partitions past retention (default: EVENTS_RETENTION_ACTION).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; change nothing."
        )

    def handle(self, *args, ahead, retention_months, action, dry_run, **options):
        try:
            report = maintain_partitions(
                months_ahead=ahead, retention_months=retention_months, action=action, dry_run=dry_run
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        verb = "would " if dry_run else ""
        for name in report.created:
            moved = report.moved_rows.get(name, 0)
            self.stdout.write(
                f"{verb}create {name}" + (f" (moving {moved} rows from DEFAULT)" if moved else "")
            )
        past = "drop" if action == "drop" else "detach"
        for name in report.retired:
            self.stdout.write(f"{verb}{past} {name}")
        if report.purged_default_rows:
            self.stdout.write(f"{verb}delete {report.purged_default_rows} expired rows from DEFAULT")
        if not (report.created or report.retired or report.purged_default_rows):
            self.stdout.write("partitions are up to date")
