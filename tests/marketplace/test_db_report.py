"""``manage.py db_report``: finds a planted unindexed foreign key, an unused and a duplicate
index; ``--json`` shape; ``--fail-on`` exit codes."""

import json
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from marketplace.db_report import build_report, check_thresholds, metrics, parse_thresholds
from tests.marketplace.test_serve import database_url

pytestmark = pytest.mark.django_db

PLANT = """
CREATE TABLE report_parent (id bigint PRIMARY KEY, name text);
CREATE TABLE report_child (
    id bigint PRIMARY KEY,
    parent_id bigint REFERENCES report_parent (id),
    covered_id bigint REFERENCES report_parent (id),
    note text
);
CREATE INDEX report_child_covered ON report_child (covered_id, note);
CREATE INDEX report_child_note ON report_child (note);
CREATE INDEX report_child_note_again ON report_child (note);
"""


@pytest.fixture
def planted():
    with connection.cursor() as cursor:
        cursor.execute(PLANT)


def run(*args) -> str:
    out = StringIO()
    call_command("db_report", *args, stdout=out)
    return out.getvalue()


def test_the_report_finds_a_planted_unindexed_foreign_key_and_unused_indexes(planted):
    report = json.loads(run("--json"))
    fks = {(row["table"], tuple(row["columns"])) for row in report["unindexed_foreign_keys"]}
    assert ("report_child", ("parent_id",)) in fks
    assert ("report_child", ("covered_id",)) not in fks  # leading column of report_child_covered
    unused = {row["index"] for row in report["unused_indexes"]}
    assert {"public.report_child_note", "public.report_child_covered"} <= unused
    assert "public.report_child_pkey" not in unused  # a primary key enforces something
    duplicates = {(row["index"], row["duplicate_of"], row["kind"]) for row in report["duplicate_indexes"]}
    assert ("report_child_note_again", "report_child_note", "duplicate") in duplicates
    assert not any(
        row["index"] == "report_child_note" for row in report["duplicate_indexes"]
    )  # reported once


def test_the_json_shape(planted):
    report = json.loads(run("--json", "--limit", "3"))
    assert set(report) == {
        "database",
        "statements",
        "table_sizes",
        "index_sizes",
        "unused_indexes",
        "duplicate_indexes",
        "unindexed_foreign_keys",
        "cache_hit",
        "bloat",
        "long_running",
        "lock_waits",
        "replicas",
        "metrics",
        "failed",
    }
    assert report["database"] == connection.settings_dict["NAME"]
    # pg_stat_statements is preloaded by the embedded server and created by a migration.
    assert set(report["statements"]) == {"by_mean", "by_total"}
    assert len(report["statements"]["by_mean"]) <= 3
    assert set(report["statements"]["by_mean"][0]) == {"query", "calls", "mean_ms", "total_ms", "rows"}
    assert len(report["table_sizes"]) == 3
    assert set(report["table_sizes"][0]) == {
        "table",
        "rows_estimate",
        "table_bytes",
        "index_bytes",
        "total_bytes",
    }
    assert set(report["cache_hit"]) == {"tables", "indexes", "overall"}
    assert set(report["replicas"]) == {"configured", "streaming"}
    assert isinstance(report["long_running"], list) and isinstance(report["lock_waits"], list)
    assert report["metrics"]["unindexed_fk"] >= 1
    assert report["failed"] == []


def test_the_readable_report_has_every_section(planted):
    text = run()
    for title in (
        "Slowest statements by mean time",
        "Largest tables",
        "Unused indexes",
        "Duplicate and redundant indexes",
        "Foreign keys without a covering index",
        "Cache hit ratio",
        "Bloat estimate",
        "Long-running queries",
        "Lock waits",
        "Replicas",
    ):
        assert title in text
    assert "report_child" in text and "parent_id" in text


def test_a_section_the_server_cannot_answer_is_reported_unavailable(planted):
    with connection.cursor() as cursor:
        cursor.execute("DROP EXTENSION pg_stat_statements")
    report = build_report()
    assert "pg_stat_statements is not installed" in report["statements"]["unavailable"]
    assert metrics(report)["slowest_mean_ms"] is None
    assert "unavailable: pg_stat_statements" in run()
    # The other sections still answer on the same connection.
    assert report["unindexed_foreign_keys"]


def test_fail_on_thresholds(planted):
    with pytest.raises(CommandError) as crossed:
        run("--fail-on", "unindexed_fk")
    assert crossed.value.returncode == 1
    assert "unindexed_fk>0: unindexed_fk is" in str(crossed.value)

    with pytest.raises(CommandError) as crossed:
        run("--json", "--fail-on", "lock_waits>5, cache_hit<=1.0")
    assert crossed.value.returncode == 1
    assert "cache_hit<=1" in str(crossed.value) and "lock_waits" not in str(crossed.value)

    run("--fail-on", "lock_waits,long_running>100,replica_lag>3600")  # all clear: no error

    for bad in ("nonsense", "cache_hit<<1", "cache_hit<abc"):
        with pytest.raises(CommandError) as refused:
            run("--fail-on", bad)
        assert refused.value.returncode == 2
        assert "expected NAME or NAME<op>NUMBER" in str(refused.value)


def test_thresholds_parse_and_compare():
    assert [str(t) for t in parse_thresholds("unindexed_fk, cache_hit<0.95,replica_lag>=30")] == [
        "unindexed_fk>0",
        "cache_hit<0.95",
        "replica_lag>=30",
    ]
    report = build_report(limit=1)
    report["cache_hit"] = {"tables": None, "indexes": None, "overall": None}  # nothing read yet
    assert check_thresholds(report, parse_thresholds("cache_hit<0.95")) == []


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_non_zero_for_cron():
    """As cron or CI runs it: a real process, its exit status."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    command = [sys.executable, "manage.py", "db_report", "--fail-on"]

    def status(spec: str) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603
            [*command, spec], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
        )

    clear = status("lock_waits>1000")
    assert clear.returncode == 0, clear.stderr
    assert "Foreign keys without a covering index" in clear.stdout
    crossed = status("lock_waits<1000")
    assert crossed.returncode == 1
    assert "lock_waits<1000" in crossed.stderr
    assert status("bogus").returncode == 2
