"""HTTP benchmark of the production-style server (``make serve``) from a second process.

    .venv/bin/python bench/http_bench.py --listings 100000 [--workers 2] [--connections 1,4,8,16]
    .venv/bin/python bench/http_bench.py --listings 1000000 --replica auto   # reads on `make replica`
    .venv/bin/python bench/http_bench.py --url http://127.0.0.1:8000 --database marketplace_bench_100000

Uses the search benchmark's database of N demo listings (``marketplace_bench_<N>``, loaded by
``bench/search_bench.py --listings N --iterations 1``; ``--database`` names another; the
development database is refused). Starts ``python -m marketplace.serve`` (uvicorn,
``--workers`` processes, production settings: ``DEBUG=false``, static collected into
``.data/bench_static``) on a free loopback port against that database and the development
Redis (its own cache prefix), unless ``--url`` names a server that is already running (then
the slugs still come from ``--database``). ``--replica URL[,URL]`` gives the server it starts
read replicas (``auto``: the bench database on the replica that ``make replica`` started;
without it, none); ``--server-env NAME=VALUE`` any other setting.

Then, for each page kind and each connection count, ``--connections`` keep-alive connections
send GET requests back to back for ``--duration`` seconds (after ``--warmup`` seconds untimed):

- **trivial**: ``/robots.txt`` (the whole middleware stack and a template, no database);
- **home**: ``/`` (category tree, featured and newest listings);
- **search**: ``/search/?q=<word>``, a keyword drawn from the catalogue's words;
- **listing**: ``/listings/<slug>/``, one of ``--slugs`` public listings drawn at random (each
  visited once first, untimed, so their shared parts are cached as a visited page's are).

Printed per kind and connection count: requests per second, latency p50/p95 (client side,
with the loopback round trip), non-200 answers; then each kind's best throughput as a
share of the trivial endpoint's (budgets: listing >= 50 %, home >= 30 %, search >= 20 %), the
server's CPU time per request and the load average. Every request is anonymous and sends
``X-Forwarded-Proto: https`` (the server trusts it from 127.0.0.1), as a TLS proxy would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
os.environ.setdefault("DEBUG", "true")

from benchdb import percentile  # noqa: E402 (bench/ is the script's directory)

STATIC_ROOT = BASE_DIR / ".data" / "bench_static"
KINDS = ["trivial", "home", "search", "listing"]
BUDGETS = {"home": 0.30, "search": 0.20, "listing": 0.50}
# Words of the demo catalogue (listings.demo): broad and narrow, a prefix or two.
KEYWORDS = [
    "desk", "oak desk", "walnut", "leather sofa", "velvet", "dining table", "office chair",
    "iphone", "macbook pro", "pixel", "galaxy", "canon", "gopro", "turntable", "headphones",
    "playstation", "toyota", "mountain bike", "brompton", "ducati", "logo design", "piano",
    "phone screen repair", "lawn mower", "espresso machine", "floor lamp", "vintage", "mac", "sof",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(db) -> str:
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    address = db["HOST"] + (f":{db['PORT']}" if db["PORT"] else "")
    options = {key: value for key, value in db["OPTIONS"].items() if isinstance(value, str | int)}
    return f"postgres://{auth}@{address}/{db['NAME']}" + (f"?{urlencode(options)}" if options else "")


def prepare(args) -> tuple[list[str], dict]:
    """Slugs of ``--slugs`` public listings, and the server's environment."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    if args.database == connection.settings_dict["NAME"]:
        sys.exit(f"Refusing to benchmark the development database {args.database!r}: name another.")
    connection.settings_dict["NAME"] = args.database
    try:
        call_command("migrate", verbosity=0)  # the code may have moved on since the load
    except Exception as error:  # noqa: BLE001 - say it and bench what is there
        print(f"warning: migrate failed ({error}); pages may fail on missing columns")
    from listings.selectors import public_listings

    try:
        total = public_listings().count()
    except Exception as error:  # noqa: BLE001 - a missing database, said plainly
        sys.exit(f"{args.database}: {error}\nLoad it with bench/search_bench.py --listings N --iterations 1")
    if not total:
        sys.exit(f"{args.database} has no public listings: load it with bench/search_bench.py first.")
    rng = random.Random(args.seed)
    slugs = list(
        public_listings()
        .filter(pk__in=public_listings().order_by("?").values("pk")[: args.slugs])
        .values_list("slug", flat=True)
    )
    rng.shuffle(slugs)
    env = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        # The bench database's category tree and pages, apart from development's.
        "CACHE_KEY_PREFIX": f"bench-{args.database}",
    }
    print(f"{args.database}: {total:,} public listings; {len(slugs)} listing pages in the mix")
    connection.close()
    return slugs, env


def server_environment(env: dict, args) -> dict:
    environment = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "DEBUG": "false",
        "SECRET_KEY": "http-bench-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "ALLOW_SIMULATED_PAYMENTS": "true",
        "STATIC_ROOT": str(STATIC_ROOT),
        **env,
    }
    # No replica unless asked (`make replica` leaves .data/replica.env, which the settings read).
    environment["DATABASE_REPLICA_URLS"] = ",".join(replica_urls(args.replica, args.database))
    environment.update(dict(item.split("=", 1) for item in args.server_env))
    return environment


def replica_urls(replica: str, database: str) -> list[str]:
    """``--replica``: URLs as given, or ``auto``: the bench database on each replica of
    ``.data/replica.env`` (a streaming replica holds every database of its primary)."""
    if replica != "auto":
        return [url for url in replica.split(",") if url]
    env_file = BASE_DIR / ".data" / "replica.env"
    text = env_file.read_text() if env_file.exists() else ""
    urls = [
        url
        for line in text.splitlines()
        if line.startswith("DATABASE_REPLICA_URLS=")
        for url in line.split("=", 1)[1].split(",")
        if url
    ]
    if not urls:
        sys.exit("--replica auto: no .data/replica.env (start one with `make replica`)")
    return [urlsplit(url)._replace(path=f"/{database}").geturl() for url in urls]


def start_server(port: int, env: dict, args, log: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "marketplace.serve", "run", "--host", "127.0.0.1", "--port", str(port),
        "--pid-file", str(Path(tempfile.gettempdir()) / f"http_bench_{port}.pid"),
    ]  # fmt: skip
    if args.workers:
        command += ["--workers", str(args.workers)]
    with open(log, "wb") as out:
        return subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            command,
            cwd=BASE_DIR,
            env=server_environment(env, args),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(url: str, process: subprocess.Popen | None, log: Path | None, timeout: float = 180) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            sys.exit(f"server exited ({process.returncode}):\n{log.read_text()}")
        request = urllib.request.Request(f"{url}/robots.txt", headers={"X-Forwarded-Proto": "https"})  # noqa: S310
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=2):  # noqa: S310
            return
        time.sleep(0.3)
    sys.exit(f"server at {url} did not answer:\n{log.read_text() if log else ''}")


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of ``root`` and every live descendant (the runner, uvicorn's
    supervisor and its workers; a worker's own group is not the runner's)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid, seconds in times.items():
        ancestor = pid
        while ancestor > 1 and ancestor != root:
            ancestor = parents.get(ancestor, 0)
        if ancestor == root:
            total += seconds
    return total


def paths_for(kind: str, slugs: list[str], rng: random.Random):
    if kind == "trivial":
        return lambda: "/robots.txt"
    if kind == "home":
        return lambda: "/"
    if kind == "search":
        return lambda: f"/search/?{urlencode({'q': rng.choice(KEYWORDS)})}"
    return lambda: f"/listings/{rng.choice(slugs)}/"


async def load(url: str, next_path, connections: int, warmup: float, duration: float) -> dict:
    """``connections`` clients, each sending its next GET when the last one is answered."""
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    headers = {"X-Forwarded-Proto": "https", "Accept": "text/html"}
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout, headers=headers) as session:
        begin = time.monotonic()
        measure_from = begin + warmup
        end = measure_from + duration

        async def client() -> None:
            while (started := time.monotonic()) < end:
                try:
                    async with session.get(next_path(), allow_redirects=False) as response:
                        await response.read()
                        status = response.status
                except (TimeoutError, aiohttp.ClientError):
                    status = 0
                finished = time.monotonic()
                if started >= measure_from and finished <= end:
                    latencies.append(finished - started)
                    statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(client() for _ in range(connections)))
    ms = [v * 1000 for v in latencies]
    return {
        "requests": len(latencies),
        "rps": len(latencies) / duration,
        "p50": percentile(ms, 0.5) if ms else float("nan"),
        "p95": percentile(ms, 0.95) if ms else float("nan"),
        "errors": {code: n for code, n in statuses.items() if code != 200},
    }


async def visit_all(url: str, paths: list[str], connections: int) -> None:
    """GET every path once (untimed): the listing pages' shared parts are then cached, as a
    popular page's are."""
    import aiohttp

    queue = list(paths)
    headers = {"X-Forwarded-Proto": "https"}
    async with aiohttp.ClientSession(url, headers=headers) as session:

        async def client() -> None:
            while queue:
                async with session.get(queue.pop(), allow_redirects=False) as response:
                    await response.read()

        await asyncio.gather(*(client() for _ in range(connections)))


def run(args, url: str, slugs: list[str], server_pgid: int | None) -> dict:
    rng = random.Random(args.seed)
    if "listing" in args.kinds:
        asyncio.run(visit_all(url, [f"/listings/{slug}/" for slug in slugs], 4))
    results: dict[tuple[str, int], dict] = {}
    print(f"\n{'kind':<8} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'cpu ms/req':>10}  non-200")
    for kind in args.kinds:
        for connections in args.connections:
            cpu_before = tree_cpu_seconds(server_pgid) if server_pgid else 0.0
            result = asyncio.run(
                load(url, paths_for(kind, slugs, rng), connections, args.warmup, args.duration)
            )
            cpu = (tree_cpu_seconds(server_pgid) - cpu_before) if server_pgid else 0.0
            # CPU over warm-up and measure, per request of the measured window (an estimate).
            per_request = (
                1000 * cpu * args.duration / (args.duration + args.warmup) / max(result["requests"], 1)
            )
            results[(kind, connections)] = result
            print(
                f"{kind:<8} {connections:>5} {result['rps']:>8.1f} {result['p50']:>8.1f} "
                f"{result['p95']:>8.1f} {per_request:>10.1f}  {result['errors'] or ''}",
                flush=True,
            )
    return results


def report(args, results: dict) -> None:
    best = {kind: max(results[(kind, c)]["rps"] for c in args.connections) for kind in args.kinds}
    print()
    if "trivial" in best and best["trivial"]:
        for kind, budget in BUDGETS.items():
            if kind in best:
                share = best[kind] / best["trivial"]
                verdict = "ok" if share >= budget else "MISSED"
                print(
                    f"{kind:<8} best {best[kind]:7.1f} req/s = {100 * share:5.1f}% of trivial "
                    f"(budget >= {100 * budget:.0f}%): {verdict}"
                )
        for connections in args.connections:
            trivial = results[("trivial", connections)]["rps"]
            row = " ".join(
                f"{kind} {100 * results[(kind, connections)]['rps'] / trivial:.0f}%"
                for kind in BUDGETS
                if kind in best and trivial
            )
            print(f"at {connections:>2} connections: {row}")
    print(
        f"load average: {' / '.join(f'{v:.1f}' for v in os.getloadavg())} (1/5/15 min) "
        f"on {os.cpu_count()} cores"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--listings", type=int, default=100_000, help="names the database marketplace_bench_<N>"
    )
    parser.add_argument("--database", help="default: marketplace_bench_<listings>")
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--workers", type=int, default=0, help="server processes (default: SERVE_WORKERS)")
    parser.add_argument(
        "--replica",
        default="",
        help="read replica URLs for the server it starts (comma-separated), or `auto`: the bench "
        "database on the replicas of .data/replica.env (`make replica`); default: none",
    )
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--connections", default="1,4,8,16", help="comma-separated connection counts")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per kind and count")
    parser.add_argument("--warmup", type=float, default=2, help="untimed seconds before each measure")
    parser.add_argument("--slugs", type=int, default=200, help="distinct listing pages in the mix")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.database = args.database or f"marketplace_bench_{args.listings}"
    args.connections = [int(c) for c in args.connections.split(",")]
    args.kinds = [k.strip() for k in args.kinds.split(",")]
    if unknown := set(args.kinds) - set(KINDS):
        sys.exit(f"unknown kinds: {', '.join(sorted(unknown))}")

    slugs, env = prepare(args)
    server = None
    log = None
    url = args.url
    if not url:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = Path(tempfile.gettempdir()) / f"http_bench_server_{port}.log"
        server = start_server(port, env, args, log)
        print(f"replicas: {replica_urls(args.replica, args.database) or 'none'}")
    try:
        wait_ready(url, server, log)
        if server:
            print(f"server: {url}, {log.read_text().strip().splitlines()[-1] if log.exists() else ''}")
        results = run(args, url, slugs, server.pid if server else None)
        report(args, results)
    finally:
        if server:
            stopped = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
                print(
                    f"server stopped {time.monotonic() - stopped:.1f} s after SIGTERM "
                    f"(exit {server.returncode})"
                )
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                print("server did not stop within 30 s of SIGTERM: killed")


if __name__ == "__main__":
    main()
