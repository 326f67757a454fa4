"""What the benchmark scripts share: their own database on the development server, and the
percentile they report."""

import sys


def use_bench_database(database: str, *, recreate: bool) -> None:
    """Point Django (set up already) at ``database`` on the development server, creating it
    first (or dropping and creating it with ``recreate``). Refuses the development database."""
    from django.db import connection

    if database == connection.settings_dict["NAME"]:
        sys.exit(f"Refusing to benchmark in the development database {database!r}: name another.")
    name = connection.ops.quote_name(database)
    # The server's maintenance database, as Django's test runner reaches it to create its own.
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        exists = cursor.fetchone()
        if exists and recreate:
            print(f"Dropping database {database}")
            cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")
            exists = None
        if not exists:
            print(f"Creating database {database}")
            cursor.execute(f"CREATE DATABASE {name}")
    connection.close()
    connection.settings_dict["NAME"] = database


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.95 for p95)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]
