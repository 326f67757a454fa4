"""The database report behind ``manage.py db_report``: the monitoring queries, as data.

:func:`build_report` returns one JSON-ready dict of sections; each section is a list of rows
(dicts) or a dict, or ``{"unavailable": "<why>"}`` when the server cannot answer it (no
pg_stat_statements, no privilege): a missing section is reported, never a crash.
:func:`metrics` reduces the report to the numbers ``--fail-on`` thresholds compare, and
:func:`check_thresholds` compares them.

Every query reads statistics views and catalogs only (no lock beyond catalog reads). Counters
(index scans, cache hits, dead tuples, statement times) are cumulative since the server's or
the statistics' last reset: an index "unused" on a freshly started server may simply not have
been needed yet.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction

SCHEMAS_EXCLUDED = ("pg_catalog", "information_schema", "pg_toast")


def _rows(sql: str, params: list | None = None) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, _jsonable_row(row), strict=True)) for row in cursor.fetchall()]


def _jsonable_row(row) -> list:
    out = []
    for value in row:
        if hasattr(value, "total_seconds"):
            value = round(value.total_seconds(), 3)
        elif value is not None and type(value).__name__ == "Decimal":
            value = float(value)
        elif isinstance(value, list | tuple):
            value = [str(item) for item in value]
        elif value is not None and not isinstance(value, int | float | str | bool):
            value = str(value)
        out.append(value)
    return out


def _section(fn: Callable[..., object], *args) -> object:
    """Run one section in a savepoint, so a failing one (a missing view, a privilege) leaves
    the connection usable for the others and reports why."""
    try:
        with transaction.atomic():
            return fn(*args)
    except DatabaseError as error:
        return {"unavailable": str(error).strip().splitlines()[0][:300]}


# --- sections ---------------------------------------------------------------------------------


def _statements(limit: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        if cursor.fetchone() is None:
            return {
                "unavailable": "pg_stat_statements is not installed in this database "
                "(it needs shared_preload_libraries = 'pg_stat_statements' and CREATE EXTENSION)"
            }
    sql = """
        SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 200) AS query, calls,
               round(mean_exec_time::numeric, 2) AS mean_ms, round(total_exec_time::numeric, 1) AS total_ms,
               rows
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND query NOT ILIKE '%%pg_stat_statements%%'
        ORDER BY {order} DESC
        LIMIT %s
    """
    return {
        "by_mean": _rows(sql.format(order="mean_exec_time"), [limit]),
        "by_total": _rows(sql.format(order="total_exec_time"), [limit]),
    }


def _table_sizes(limit: int) -> list[dict]:
    return _rows(
        """
        SELECT n.nspname || '.' || c.relname AS table, c.reltuples::bigint AS rows_estimate,
               pg_table_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes,
               pg_total_relation_size(c.oid) AS total_bytes
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm') AND n.nspname <> ALL(%s)
        ORDER BY pg_total_relation_size(c.oid) DESC, c.relname
        LIMIT %s
        """,
        [list(SCHEMAS_EXCLUDED), limit],
    )


def _index_sizes(limit: int) -> list[dict]:
    return _rows(
        """
        SELECT s.schemaname || '.' || s.indexrelname AS index, s.relname AS table,
               pg_relation_size(s.indexrelid) AS bytes, s.idx_scan AS scans
        FROM pg_stat_user_indexes s
        ORDER BY pg_relation_size(s.indexrelid) DESC, s.indexrelname
        LIMIT %s
        """,
        [limit],
    )


def _unused_indexes() -> list[dict]:
    # Unique, primary-key and constraint indexes enforce something even when never scanned.
    return _rows(
        """
        SELECT s.schemaname || '.' || s.indexrelname AS index, s.relname AS table,
               pg_relation_size(s.indexrelid) AS bytes, s.idx_scan AS scans
        FROM pg_stat_user_indexes s
        JOIN pg_index i ON i.indexrelid = s.indexrelid
        WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = s.indexrelid)
        ORDER BY pg_relation_size(s.indexrelid) DESC, s.indexrelname
        """
    )


def _duplicate_indexes() -> list[dict]:
    """Indexes of one table with the same columns, operator classes, expressions and predicate
    ("duplicate"), and plain indexes whose columns are a leading part of another index of the
    same access method ("redundant": the longer one serves the same lookups)."""
    return _rows(
        """
        WITH idx AS (
            SELECT i.indexrelid, i.indrelid, i.indisunique, i.indkey::text AS keys,
                   i.indclass::text AS classes, coalesce(pg_get_expr(i.indexprs, i.indrelid), '') AS exprs,
                   coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS pred, c.relam
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname <> ALL(%s)
              -- an index of a partition attached to the parent's index is listed once, as the parent's
              AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
        )
        SELECT a.indexrelid::regclass::text AS index, b.indexrelid::regclass::text AS duplicate_of,
               a.indrelid::regclass::text AS table,
               CASE WHEN a.keys = b.keys AND a.classes = b.classes THEN 'duplicate' ELSE 'redundant' END
                   AS kind,
               pg_relation_size(a.indexrelid) AS bytes
        FROM idx a
        JOIN idx b ON a.indrelid = b.indrelid AND a.indexrelid <> b.indexrelid AND a.relam = b.relam
        WHERE a.exprs = '' AND b.exprs = '' AND a.pred = b.pred
          AND (
            -- the same index twice: report the younger one (or the non-unique one)
            (a.keys = b.keys AND a.classes = b.classes
             AND ((NOT a.indisunique AND b.indisunique)
                  OR (a.indisunique = b.indisunique AND a.indexrelid > b.indexrelid)))
            OR
            -- a plain index on the leading columns of another
            (NOT a.indisunique AND a.keys <> b.keys AND (b.keys || ' ') LIKE (a.keys || ' %%')
             AND (b.classes || ' ') LIKE (a.classes || ' %%'))
          )
        ORDER BY 3, 1
        """,
        [list(SCHEMAS_EXCLUDED)],
    )


def _unindexed_foreign_keys() -> list[dict]:
    """Foreign keys whose columns are not the leading columns (in any order) of an index of
    their table: a delete or key update of the referenced row scans the whole table."""
    return _rows(
        """
        SELECT k.conrelid::regclass::text AS table, k.conname AS constraint,
               k.confrelid::regclass::text AS references,
               array(SELECT a.attname FROM unnest(k.conkey) AS col(num)
                     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = col.num) AS columns
        FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE k.contype = 'f' AND k.conparentid = 0 AND n.nspname <> ALL(%s)
          AND NOT EXISTS (
            SELECT 1 FROM pg_index i
            WHERE i.indrelid = k.conrelid
              -- a partial index serves the key's lookups only when it skips nothing but NULLs
              AND (i.indpred IS NULL OR pg_get_expr(i.indpred, i.indrelid) IN (
                  SELECT '(' || a.attname || ' IS NOT NULL)' FROM unnest(k.conkey) AS col(num)
                  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = col.num))
              AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey
          )
        ORDER BY 1, 2
        """,
        [list(SCHEMAS_EXCLUDED)],
    )


def _cache_hit() -> dict:
    (row,) = _rows(
        """
        SELECT sum(heap_blks_hit) AS heap_hit, sum(heap_blks_read) AS heap_read,
               sum(idx_blks_hit) AS index_hit, sum(idx_blks_read) AS index_read
        FROM pg_statio_user_tables
        """
    )
    heap_hit, heap_read = row["heap_hit"] or 0, row["heap_read"] or 0
    index_hit, index_read = row["index_hit"] or 0, row["index_read"] or 0

    def ratio(hit, read):
        return round(hit / (hit + read), 4) if hit + read else None

    return {
        "tables": ratio(heap_hit, heap_read),
        "indexes": ratio(index_hit, index_read),
        "overall": ratio(heap_hit + index_hit, heap_read + index_read),
    }


def _bloat(limit: int) -> list[dict]:
    """Dead-tuple estimate per table (from the statistics collector, no table scan): the share
    of dead rows and the bytes they take, with the last (auto)vacuum."""
    return _rows(
        """
        SELECT s.schemaname || '.' || s.relname AS table,
               s.n_live_tup AS live_rows, s.n_dead_tup AS dead_rows,
               round(s.n_dead_tup::numeric / nullif(s.n_live_tup + s.n_dead_tup, 0), 4) AS dead_ratio,
               (pg_table_size(s.relid) * s.n_dead_tup / nullif(s.n_live_tup + s.n_dead_tup, 0))::bigint
                   AS wasted_bytes_estimate,
               greatest(s.last_vacuum, s.last_autovacuum) AS last_vacuum
        FROM pg_stat_user_tables s
        WHERE s.n_dead_tup > 0
        ORDER BY wasted_bytes_estimate DESC NULLS LAST, dead_ratio DESC
        LIMIT %s
        """,
        [limit],
    )


def _long_running(seconds: float) -> list[dict]:
    return _rows(
        """
        SELECT pid, usename AS user, state, now() - coalesce(query_start, xact_start) AS seconds,
               now() - xact_start AS transaction_seconds, wait_event_type, left(query, 200) AS query
        FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
          AND state <> 'idle'
          AND (now() - coalesce(query_start, xact_start) > make_interval(secs => %s)
               OR now() - xact_start > make_interval(secs => %s))
        ORDER BY coalesce(query_start, xact_start)
        """,
        [seconds, seconds],
    )


def _lock_waits() -> list[dict]:
    return _rows(
        """
        SELECT w.pid, pg_blocking_pids(w.pid) AS blocked_by, w.wait_event, now() - w.query_start AS seconds,
               left(w.query, 200) AS query
        FROM pg_stat_activity w
        WHERE w.datname = current_database() AND w.wait_event_type = 'Lock'
        ORDER BY w.query_start
        """
    )


def _replicas() -> dict:
    """Configured replicas as the router sees them, and the primary's view of its standbys."""
    from marketplace.db_router import replica_states

    configured = [
        {"alias": state.alias, "ok": state.ok, "lag_seconds": state.lag_seconds, "error": state.error}
        for state in replica_states(fresh=True)
    ]
    streaming = _section(
        _rows,
        """
        SELECT application_name, client_addr::text AS client_addr, state, sync_state,
               extract(epoch FROM replay_lag)::float AS replay_lag_seconds,
               pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS replay_lag_bytes
        FROM pg_stat_replication ORDER BY application_name
        """,
    )
    return {"configured": configured, "streaming": streaming}


def build_report(*, limit: int = 10, long_query_seconds: float | None = None) -> dict:
    """Every section of the report (see the module docstring); ``limit`` rows per ranking."""
    if long_query_seconds is None:
        long_query_seconds = settings.DB_REPORT_LONG_QUERY_SECONDS
    return {
        "database": connection.settings_dict["NAME"],
        "statements": _section(_statements, limit),
        "table_sizes": _section(_table_sizes, limit),
        "index_sizes": _section(_index_sizes, limit),
        "unused_indexes": _section(_unused_indexes),
        "duplicate_indexes": _section(_duplicate_indexes),
        "unindexed_foreign_keys": _section(_unindexed_foreign_keys),
        "cache_hit": _section(_cache_hit),
        "bloat": _section(_bloat, limit),
        "long_running": _section(_long_running, long_query_seconds),
        "lock_waits": _section(_lock_waits),
        "replicas": _replicas(),
    }


# --- thresholds -------------------------------------------------------------------------------


def _count(section) -> int | None:
    return len(section) if isinstance(section, list) else None


def metrics(report: dict) -> dict[str, float | None]:
    """The figures ``--fail-on`` compares (None: not measurable, e.g. no reads yet)."""
    cache_hit = report["cache_hit"] if "unavailable" not in report["cache_hit"] else {}
    bloat = report["bloat"]
    statements = report["statements"]
    lags = [state["lag_seconds"] for state in report["replicas"]["configured"]]
    streaming = report["replicas"]["streaming"]
    if isinstance(streaming, list):
        lags += [row["replay_lag_seconds"] for row in streaming]
    down = sum(1 for state in report["replicas"]["configured"] if not state["ok"])
    return {
        "unindexed_fk": _count(report["unindexed_foreign_keys"]),
        "unused_index": _count(report["unused_indexes"]),
        "duplicate_index": _count(report["duplicate_indexes"]),
        "cache_hit": cache_hit.get("overall"),
        "bloat": max((row["dead_ratio"] or 0 for row in bloat), default=0)
        if isinstance(bloat, list)
        else None,
        "long_running": _count(report["long_running"]),
        "lock_waits": _count(report["lock_waits"]),
        "replica_lag": max((lag for lag in lags if lag is not None), default=0),
        "replica_down": down,
        "slowest_mean_ms": max((row["mean_ms"] for row in statements["by_mean"]), default=0)
        if "by_mean" in statements
        else None,
    }


OPERATORS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "=": operator.eq}
THRESHOLD = re.compile(r"^\s*([a-z_]+)\s*(?:(<=|>=|<|>|=)\s*(-?[0-9]*\.?[0-9]+))?\s*$")


@dataclass(frozen=True)
class Threshold:
    """``name`` alone fails when the figure is above 0; ``name<0.95`` fails when it is below."""

    name: str
    op: str = ">"
    value: float = 0.0

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value:g}"


def parse_thresholds(spec: str) -> list[Threshold]:
    """``"unindexed_fk,cache_hit<0.95"`` -> thresholds; ``ValueError`` naming a bad part."""
    thresholds = []
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        match = THRESHOLD.match(part)
        if not match or match.group(1) not in METRIC_NAMES:
            raise ValueError(
                f"{part!r}: expected NAME or NAME<op>NUMBER, NAME one of {', '.join(METRIC_NAMES)}"
            )
        name, op, value = match.groups()
        thresholds.append(Threshold(name, op, float(value)) if op else Threshold(name))
    return thresholds


METRIC_NAMES = (
    "unindexed_fk",
    "unused_index",
    "duplicate_index",
    "cache_hit",
    "bloat",
    "long_running",
    "lock_waits",
    "replica_lag",
    "replica_down",
    "slowest_mean_ms",
)


def check_thresholds(report: dict, thresholds: list[Threshold]) -> list[str]:
    """The thresholds crossed, as readable lines (empty: all clear). A figure that cannot be
    measured (None) crosses nothing."""
    figures = metrics(report)
    crossed = []
    for threshold in thresholds:
        figure = figures[threshold.name]
        if figure is not None and OPERATORS[threshold.op](figure, threshold.value):
            crossed.append(f"{threshold}: {threshold.name} is {figure:g}")
    return crossed
