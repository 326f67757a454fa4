"""WebSocket messaging benchmark: N sockets of real users, pairs chatting at a fixed total rate.

    .venv/bin/python bench/ws_bench.py [--sockets 1000] [--rate 200] [--duration 60] [--servers 1|2]

Works on its own database on the development server (``marketplace_bench_ws`` unless
``--database`` names another; the development database is refused): creates and migrates
it, creates ``--sockets`` users (half buyers, half sellers), one conversation per pair and
one session per user (in Redis, as a login would). Then it starts ``--servers`` uvicorn
processes (one worker each, production settings, on free ports, the bench database and the
development Redis) and connects every user's socket to ``ws/messages/<conversation>/`` with
their session cookie and the site's Origin; with two servers the two sides of each pair sit
on different servers, so every message crosses Redis.

Each pair's two users take turns; the whole population sends ``--rate`` messages a second
for ``--duration`` seconds, spread evenly. Printed: connect time (all sockets, and per
socket p50/p95), delivery latency from the send to the other side's socket (p50/p95/p99),
messages lost (acknowledged but never delivered within ``--grace`` seconds) and duplicated
(delivered twice to a socket), send errors by code, and the servers' memory (RSS) before and
after. Budget: 1,000 sockets held, p95 <= 100 ms at 200 msg/s, 0 lost, 0 duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlencode

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.settings"
os.environ.setdefault("DEBUG", "true")

from benchdb import percentile, use_bench_database  # noqa: E402 (bench/ is the script's directory)

STATIC_ROOT = BASE_DIR / ".data" / "bench_static"
BENCH_PASSWORD_HASH = "!bench"  # noqa: S105 - an unusable password: these users only ever use a session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(db) -> str:
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    address = db["HOST"] + (f":{db['PORT']}" if db["PORT"] else "")
    options = {key: value for key, value in db["OPTIONS"].items() if isinstance(value, str | int)}
    return f"postgres://{auth}@{address}/{db['NAME']}" + (f"?{urlencode(options)}" if options else "")


def prepare(sockets: int, database: str, recreate: bool) -> tuple[list[dict], dict]:
    """Users, one conversation per pair, one session per user: [{session, conversation, user}]."""
    import django

    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    use_bench_database(database, recreate=recreate)
    call_command("migrate", verbosity=0)
    # Every run starts from the same state: the messages, sessions and jobs of earlier runs
    # (hundreds of thousands after a few dozen runs) would otherwise grow the tables that the
    # sends write to, and autovacuum them in the middle of the timed minute. (CASCADE: the
    # bench's own database; reports and notifications that point at messages are empty here.)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE messaging_message, django_session, procrastinate_events, procrastinate_jobs CASCADE"
        )
    for table in ("messaging_message", "messaging_conversation", "django_session", "accounts_user"):
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    # Sessions as the site stores them (SESSION_ENGINE), so the servers find them.
    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore  # noqa: N806
    from accounts.models import User
    from messaging.models import Conversation

    pairs = sockets // 2
    now = timezone.now()
    have = User.objects.filter(email__endswith="@wsbench.test").count()
    if have < pairs * 2:
        print(f"Creating {pairs * 2 - have} users")
        User.objects.bulk_create(
            [
                User(
                    email=f"user{i:06d}@wsbench.test",
                    password=BENCH_PASSWORD_HASH,
                    first_name=f"User{i}",
                    email_verified_at=now,
                    is_seller=i % 2 == 1,
                )
                for i in range(have, pairs * 2)
            ],
            batch_size=2000,
        )
    users = list(User.objects.filter(email__endswith="@wsbench.test").order_by("email")[: pairs * 2])
    existing = {
        (c.buyer_id, c.seller_id): c
        for c in Conversation.objects.filter(listing=None, buyer__in=users[0::2], seller__in=users[1::2])
    }
    missing = [
        Conversation(buyer=users[2 * p], seller=users[2 * p + 1], subject="bench")
        for p in range(pairs)
        if (users[2 * p].pk, users[2 * p + 1].pk) not in existing
    ]
    if missing:
        print(f"Creating {len(missing)} conversations")
        Conversation.objects.bulk_create(missing, batch_size=2000)
        existing.update({(c.buyer_id, c.seller_id): c for c in missing})
    clients = []
    for p in range(pairs):
        buyer, seller = users[2 * p], users[2 * p + 1]
        conversation = existing[(buyer.pk, seller.pk)]
        for user in (buyer, seller):
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            clients.append(
                {"user": user.pk, "conversation": str(conversation.pk), "session": session.session_key}
            )
    server_env = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "SESSION_COOKIE_NAME": settings.SESSION_COOKIE_NAME,
        "SECRET_KEY": settings.SECRET_KEY,
    }
    connection.close()
    return clients, server_env


def server_environment(env: dict) -> dict:
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "DEBUG": "false",
        "SECRET_KEY": env["SECRET_KEY"],  # the session's auth hash is keyed on it
        "ALLOWED_HOSTS": "127.0.0.1",
        "ALLOW_SIMULATED_PAYMENTS": "true",
        "DATABASE_URL": env["DATABASE_URL"],
        "REDIS_URL": env["REDIS_URL"],
        "CACHE_KEY_PREFIX": env["CACHE_KEY_PREFIX"],
        "CHANNEL_LAYER_PREFIX": "wsbench-asgi",
        "STATIC_ROOT": str(STATIC_ROOT),
        # As `make serve` runs them: a connection pool per process (marketplace/serve.py).
        "DB_POOL_MAX_SIZE": "20",
        **env.get("extra", {}),
    }


def collect_static(env: dict) -> None:
    """Production settings refuse to serve without the static manifest: collect it once."""
    if not (STATIC_ROOT / "staticfiles.json").exists():
        subprocess.run(  # noqa: S603 - our interpreter, our arguments
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=BASE_DIR,
            env=server_environment(env),
            check=True,
        )


def start_server(port: int, env: dict, log: Path) -> subprocess.Popen:
    environment = server_environment(env)
    command = [
        sys.executable, "-m", "uvicorn", "marketplace.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off", "--no-access-log",
        "--log-level", "warning", "--backlog", "4096",
        *os.environ.get("WS_BENCH_UVICORN_ARGS", "").split(),
    ]  # fmt: skip
    with open(log, "wb") as out:
        return subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            command,
            cwd=BASE_DIR,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited ({process.returncode}):\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    sys.exit(f"server on port {port} did not start:\n{log.read_text()}")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Stats:
    def __init__(self):
        self.sent_at: dict[str, float] = {}  # client_id -> monotonic send time
        self.acked: set[str] = set()
        self.ack_latency: list[float] = []
        self.expected_to: dict[str, int] = {}  # client_id -> index of the receiving socket
        self.delivered: dict[str, float] = {}  # client_id -> latency (s), first delivery
        self.deliveries: Counter = Counter()  # (client_id, receiver) -> count
        self.errors: Counter = Counter()
        self.connect_times: list[float] = []
        self.disconnects = 0
        self.server_pids: list[int] = []
        self.warmup: set[str] = set()  # sent in the warm-up: checked for loss, not timed
        self.cpu_sending: float = 0.0  # the servers' CPU seconds from the first send to the end
        self.client_cpu_sending: float = 0.0  # the bench client's own CPU seconds, same span


async def run_clients(args, clients: list[dict], ports: list[int], stats: Stats) -> None:
    from websockets.asyncio.client import connect

    sockets: list = [None] * len(clients)
    semaphore = asyncio.Semaphore(args.connect_concurrency)

    async def open_one(index: int) -> None:
        client = clients[index]
        port = ports[(index % 2) % len(ports)]  # the two sides of a pair on different servers
        async with semaphore:
            started = time.monotonic()
            ws = await connect(
                f"ws://127.0.0.1:{port}/ws/messages/{client['conversation']}/",
                origin=f"http://127.0.0.1:{port}",
                additional_headers={"Cookie": f"{args.cookie_name}={client['session']}"},
                open_timeout=60,
                ping_interval=None,
                max_queue=None,
            )
            stats.connect_times.append(time.monotonic() - started)
        sockets[index] = ws

    async def reader(index: int) -> None:
        ws = sockets[index]
        try:
            async for raw in ws:
                now = time.monotonic()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message":
                    client_id = str(frame["message"].get("client_id") or frame["message"]["body"].split()[-1])
                    stats.deliveries[(client_id, index)] += 1
                    if client_id in stats.sent_at and client_id not in stats.delivered:
                        stats.delivered[client_id] = now - stats.sent_at[client_id]
                elif kind == "ack":
                    stats.acked.add(frame["client_id"])
                    if frame["client_id"] in stats.sent_at and frame["client_id"] not in stats.warmup:
                        stats.ack_latency.append(now - stats.sent_at[frame["client_id"]])
                elif kind == "error":
                    stats.errors[frame.get("code")] += 1
        except Exception:
            stats.disconnects += 1

    started = time.monotonic()
    await asyncio.gather(*(open_one(i) for i in range(len(clients))))
    connect_total = time.monotonic() - started
    print(f"connected {len(clients)} sockets in {connect_total:.2f} s", flush=True)
    readers = [asyncio.create_task(reader(i)) for i in range(len(clients))]

    pairs = len(clients) // 2
    interval = 1 / args.rate
    warmup = int(args.rate * args.warmup)
    total = warmup + int(args.rate * args.duration)
    turn = [0] * pairs
    begin = time.monotonic()
    for n in range(total):
        target = begin + n * interval
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if n == warmup:
            cpu_before_sending = sum(cpu_seconds(pid) for pid in stats.server_pids)
            client_cpu_before = cpu_seconds(os.getpid())
        pair = n % pairs
        side = turn[pair] % 2
        turn[pair] += 1
        sender, receiver = 2 * pair + side, 2 * pair + 1 - side
        client_id = str(uuid.uuid4())
        if n < warmup:
            stats.warmup.add(client_id)
        stats.expected_to[client_id] = receiver
        stats.sent_at[client_id] = time.monotonic()
        try:
            await sockets[sender].send(
                json.dumps({"type": "send", "client_id": client_id, "body": f"bench message {client_id}"})
            )
        except Exception:
            stats.errors["send_failed"] += 1
    send_seconds = time.monotonic() - begin
    print(
        f"sent {total} messages in {send_seconds:.2f} s ({total / send_seconds:.0f}/s), "
        f"the first {warmup} of them in the {args.warmup:g} s warm-up (not timed)",
        flush=True,
    )
    deadline = time.monotonic() + args.grace
    while time.monotonic() < deadline and len(stats.delivered) < len(stats.acked):
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # late duplicates
    stats.cpu_sending = sum(cpu_seconds(pid) for pid in stats.server_pids) - cpu_before_sending
    stats.client_cpu_sending = cpu_seconds(os.getpid()) - client_cpu_before
    held = sum(1 for ws in sockets if ws is not None and ws.state.name == "OPEN")
    print(f"sockets still open at the end: {held}/{len(clients)}", flush=True)
    stats.connect_total = connect_total
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


def report(stats: Stats, args, memory_before, memory_after) -> None:
    latencies = sorted(v for k, v in stats.delivered.items() if k not in stats.warmup)
    ms = [v * 1000 for v in latencies]
    lost = [c for c in stats.acked if c not in stats.delivered]
    duplicated = sum(1 for count in stats.deliveries.values() if count > 1)
    wrong = sum(
        1 for (client_id, receiver) in stats.deliveries if stats.expected_to.get(client_id) != receiver
    )
    print()
    print(
        f"servers: {args.servers}, sockets: {args.sockets}, rate: {args.rate}/s, duration: {args.duration} s"
    )
    connects = [t * 1000 for t in stats.connect_times]
    print(
        f"connect: all in {stats.connect_total:.2f} s; per socket p50 {percentile(connects, 0.5):.0f} ms, "
        f"p95 {percentile(connects, 0.95):.0f} ms"
    )
    print(f"sent {len(stats.sent_at)}, acknowledged {len(stats.acked)}, delivered {len(stats.delivered)}")
    if ms:
        print(
            f"delivery latency: p50 {percentile(ms, 0.5):.1f} ms, p95 {percentile(ms, 0.95):.1f} ms, "
            f"p99 {percentile(ms, 0.99):.1f} ms, max {ms[-1]:.1f} ms"
        )
        # By when the message was sent: a slow start (pools and threads warming up) or a burst
        # of other work on the machine shows as one bad slice, a server that cannot keep up as
        # a rising line.
        begin = min(stats.sent_at.values())
        slices: dict[int, list[float]] = {}
        for client_id, latency in stats.delivered.items():
            if client_id in stats.warmup:
                continue
            slices.setdefault(int((stats.sent_at[client_id] - begin) // 5), []).append(latency * 1000)
        print(
            "delivery p50/p95 by 5 s of sending: "
            + ", ".join(
                f"{percentile(sorted(v), 0.5):.0f}/{percentile(sorted(v), 0.95):.0f}"
                for _, v in sorted(slices.items())
            )
        )
    acks = [v * 1000 for v in stats.ack_latency]
    if acks:
        print(
            f"acknowledgement (stored) latency: p50 {percentile(acks, 0.5):.1f} ms, "
            f"p95 {percentile(acks, 0.95):.1f} ms"
        )
    print(f"lost: {len(lost)}, duplicated: {duplicated}, delivered to the wrong socket: {wrong}")
    print(f"errors: {dict(stats.errors) or 'none'}; sockets dropped: {stats.disconnects}")
    if stats.sent_at:
        print(
            f"server CPU from the first timed send to the end: {stats.cpu_sending:.1f} s in all, "
            f"{stats.cpu_sending / max(1, len(stats.sent_at) - len(stats.warmup)) * 1000:.2f} ms per "
            "message sent after the warm-up"
        )
        print(
            f"bench client CPU over the same time (on the same cores): {stats.client_cpu_sending:.1f} s, "
            f"{stats.client_cpu_sending / max(1, len(stats.sent_at) - len(stats.warmup)) * 1000:.2f} ms "
            "per message"
        )
    for (pid, before), after in zip(memory_before, memory_after, strict=True):
        print(f"server pid {pid}: RSS {before:.0f} MB before connecting, {after:.0f} MB after the run")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200, help="messages per second, in total")
    parser.add_argument("--duration", type=float, default=60, help="seconds of sending (timed)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=5,
        help="seconds of sending at the same rate first: checked for loss and duplicates, not "
        "timed (the servers' pools and threads start small and grow)",
    )
    parser.add_argument("--servers", type=int, choices=(1, 2), default=1)
    parser.add_argument("--grace", type=float, default=10, help="seconds to wait for the last deliveries")
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument("--database", default="marketplace_bench_ws")
    parser.add_argument("--recreate", action="store_true")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the servers (repeatable), e.g. DB_CONN_MAX_AGE=60",
    )
    args = parser.parse_args()
    if args.sockets < 2 or args.sockets % 2:
        sys.exit("--sockets must be an even number >= 2")

    clients, env = prepare(args.sockets, args.database, args.recreate)
    args.cookie_name = env["SESSION_COOKIE_NAME"]
    env["extra"] = dict(item.split("=", 1) for item in args.server_env)
    if env["extra"]:
        print(f"server settings: {env['extra']}")
    # The rate limit is per sender per minute; the bench's senders stay far below the default.
    per_sender = args.rate / (args.sockets) * 60
    print(
        f"{len(clients)} users, {len(clients) // 2} conversations; {per_sender:.1f} messages/min per sender"
    )
    collect_static(env)
    ports = [free_port() for _ in range(args.servers)]
    logs = [Path(tempfile.gettempdir()) / f"ws_bench_server_{port}.log" for port in ports]
    servers = [start_server(port, env, log) for port, log in zip(ports, logs, strict=True)]
    try:
        for port, server, log in zip(ports, servers, logs, strict=True):
            wait_port(port, server, log)
        time.sleep(1)
        memory_before = [(s.pid, rss_mb(s.pid)) for s in servers]
        cpu_before = [cpu_seconds(s.pid) for s in servers]
        wall_before = time.monotonic()
        stats = Stats()
        stats.server_pids = [s.pid for s in servers]
        # uvloop, as the servers run: the client shares the 2 cores with them, so its own CPU
        # per frame is taken from theirs.
        import uvloop

        uvloop.run(run_clients(args, clients, ports, stats))
        memory_after = [rss_mb(s.pid) for s in servers]
        wall = time.monotonic() - wall_before
        report(stats, args, memory_before, memory_after)
        for server, before in zip(servers, cpu_before, strict=True):
            used = cpu_seconds(server.pid) - before
            share = 100 * used / wall
            print(f"server pid {server.pid}: {used:.1f} CPU s over {wall:.1f} s ({share:.0f}% of a core)")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores")
    finally:
        for server in servers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
