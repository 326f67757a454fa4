"""``manage.py healthcheck``: the readiness check (``marketplace.health``) from a shell.

Prints each part's status, latency and detail (``--json``: the ``/readyz`` document with
full details). Exit 0 when ok or degraded, 1 when a required part (``HEALTH_REQUIRED``) is
down, so it can be a container's HEALTHCHECK or a cron alert.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from marketplace.health import DEGRADED, DOWN, OK, readiness


class Command(BaseCommand):
    help = (
        "Check the database, replicas, Redis, the channel layer, the job worker and Stripe; "
        "exit 1 when a required part is down."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", help="Print the /readyz JSON document, with details."
        )

    def handle(self, *args, **options):
        result = readiness()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(details=True), indent=2))
        else:
            styles = {OK: self.style.SUCCESS, DEGRADED: self.style.WARNING, DOWN: self.style.ERROR}
            width = max(len(part.name) for part in result.parts)
            for part in result.parts:
                style = styles.get(part.status, str)
                required = "required" if part.required else "optional"
                self.stdout.write(
                    f"{part.name.ljust(width)}  {style(part.status.ljust(8))}  {part.latency_ms:8.1f} ms  "
                    f"{required}  {part.detail}".rstrip()
                )
            self.stdout.write(f"overall: {styles.get(result.status, str)(result.status)}")
        if result.status == DOWN:
            down = ", ".join(part.name for part in result.parts if part.status == DOWN and part.required)
            raise CommandError(f"required part down: {down}", returncode=1)
