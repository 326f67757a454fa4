"""``manage.py db_report``: the database's health at a glance, for a person, CI or cron.

    manage.py db_report                      # readable tables
    manage.py db_report --json               # one JSON document (marketplace.db_report shapes)
    manage.py db_report --fail-on unindexed_fk,cache_hit<0.95   # exit 1 when one is crossed

Exit codes: 0 all clear, 1 a ``--fail-on`` threshold crossed (listed on stderr), 2 a bad
``--fail-on`` value.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from marketplace.db_report import METRIC_NAMES, build_report, check_thresholds, metrics, parse_thresholds


def _human_bytes(value) -> str:
    if not isinstance(value, int | float):
        return str(value)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def _cell(column: str, value) -> str:
    if value is None:
        return "-"
    if "bytes" in column:
        return _human_bytes(value)
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


class Command(BaseCommand):
    help = (
        "Database report: slowest statements, table and index sizes, unused and duplicate indexes, "
        "foreign keys without an index, cache hit ratio, bloat, long-running queries, lock waits, "
        "replica lag. --fail-on thresholds exit 1 (CI, cron)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON document instead of tables.")
        parser.add_argument("--limit", type=int, default=10, help="Rows per ranking (default 10).")
        parser.add_argument(
            "--fail-on",
            default="",
            metavar="CHECKS",
            help=(
                "Comma-separated: NAME (fails when above 0) or NAME<op>NUMBER with op one of < <= > >= =, "
                f"e.g. 'unindexed_fk,cache_hit<0.95,replica_lag>30'. Names: {', '.join(METRIC_NAMES)}."
            ),
        )
        parser.add_argument(
            "--long-query-seconds",
            type=float,
            default=None,
            help="List statements or transactions running longer than this "
            "(default DB_REPORT_LONG_QUERY_SECONDS).",
        )

    def handle(self, *args, **options):
        try:
            thresholds = parse_thresholds(options["fail_on"])
        except ValueError as error:
            raise CommandError(f"--fail-on {error}", returncode=2) from None
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1.", returncode=2)
        report = build_report(limit=options["limit"], long_query_seconds=options["long_query_seconds"])
        crossed = check_thresholds(report, thresholds)
        if options["json"]:
            document = {**report, "metrics": metrics(report), "failed": crossed}
            self.stdout.write(json.dumps(document, indent=2, default=str))
        else:
            self._print(report)
        if crossed:
            raise CommandError("thresholds crossed:\n  " + "\n  ".join(crossed), returncode=1)

    # --- readable output ----------------------------------------------------------------------

    def _table(self, title: str, rows, columns: list[str] | None = None, empty: str = "none") -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(title))
        if isinstance(rows, dict) and "unavailable" in rows:
            self.stdout.write(f"  unavailable: {rows['unavailable']}\n")
            return
        if not rows:
            self.stdout.write(f"  {empty}\n")
            return
        columns = columns or list(rows[0])
        cells = [[_cell(column, row[column]) for column in columns] for row in rows]
        widths = [
            min(max(len(column), *(len(line[i]) for line in cells)), 80) for i, column in enumerate(columns)
        ]
        self.stdout.write(
            "  " + "  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True))
        )
        for line in cells:
            self.stdout.write(
                "  " + "  ".join(value[:80].ljust(width) for value, width in zip(line, widths, strict=True))
            )
        self.stdout.write("")

    def _print(self, report: dict) -> None:
        self.stdout.write(f"Database report for {report['database']}\n")
        statements = report["statements"]
        if "unavailable" in statements:
            self._table("Slowest statements", statements)
        else:
            self._table(
                "Slowest statements by mean time", statements["by_mean"], ["mean_ms", "calls", "query"]
            )
            self._table(
                "Slowest statements by total time", statements["by_total"], ["total_ms", "calls", "query"]
            )
        self._table("Largest tables", report["table_sizes"])
        self._table("Largest indexes", report["index_sizes"])
        self._table("Unused indexes (no scan since the statistics reset)", report["unused_indexes"])
        self._table("Duplicate and redundant indexes", report["duplicate_indexes"])
        self._table("Foreign keys without a covering index", report["unindexed_foreign_keys"])
        cache_hit = report["cache_hit"]
        self.stdout.write(self.style.MIGRATE_HEADING("Cache hit ratio"))
        if "unavailable" in cache_hit:
            self.stdout.write(f"  unavailable: {cache_hit['unavailable']}\n")
        else:
            self.stdout.write(
                "  " + "  ".join(f"{name} {_cell(name, value)}" for name, value in cache_hit.items()) + "\n"
            )
        self._table("Bloat estimate (dead rows)", report["bloat"])
        self._table("Long-running queries and transactions", report["long_running"])
        self._table("Lock waits", report["lock_waits"])
        replicas = report["replicas"]
        self._table("Replicas (configured)", replicas["configured"], empty="none configured")
        self._table("Standbys streaming from this server", replicas["streaming"])
