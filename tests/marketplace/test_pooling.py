"""Connection pooling: DB_POOL_MAX_SIZE turns on psycopg's pool (Django's "pool" option).

Run in a child process with the variables set, as a server process would read them: twelve
queries from six threads share at most three server connections, each thread waiting for one.
"""

import json
import os
import subprocess
import sys

from marketplace.embedded import BASE_DIR

CHILD = """
import json
from concurrent.futures import ThreadPoolExecutor

import django
django.setup()
from django.conf import settings
from django.db import connections

def query(_):
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid() FROM pg_sleep(0.1)")
            return cursor.fetchone()[0]
    finally:
        connections["default"].close()  # with a pool: back to the pool, not closed

with ThreadPoolExecutor(max_workers=6) as threads:
    pids = list(threads.map(query, range(12)))
default = settings.DATABASES["default"]
print(json.dumps({
    "pids": len(set(pids)),
    "queries": len(pids),
    "pool": default["OPTIONS"]["pool"],
    "conn_max_age": default["CONN_MAX_AGE"],
}))
"""


def run_child(**variables) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "marketplace.settings", "DEBUG": "true", **variables}
    result = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_pool_caps_server_connections_per_process_and_reuses_them():
    found = run_child(DB_POOL_MAX_SIZE="3", DB_POOL_MIN_SIZE="1", DB_CONN_MAX_AGE="60")
    assert found["queries"] == 12
    assert 1 <= found["pids"] <= 3  # twelve queries, six threads, three connections at most
    assert found["pool"] == {"min_size": 1, "max_size": 3, "timeout": 10.0}
    assert found["conn_max_age"] == 0  # Django refuses persistent connections with a pool
