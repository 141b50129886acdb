"""Skills Executor overhead, end to end, in production mode with the instant model.

One iteration: `POST /api/runs` (a personal API token) → open `ws://…/ws/runs/<id>/` (the session
cookie) → receive the run's `run.final` event. Measured at concurrency 1 and 20, each against a
floor measured in the same process just before, at the same concurrency: an `aspora.system_probe`
Celery round trip (the task itself runs a database query and a channel-layer round trip inside the
worker) plus a websocket ping/pong on `/ws/events/`. At c=20 the floor is what the same machine
takes to serve 20 parallel bare round trips; the c=1 floor is printed beside it too.

    .venv/bin/python bench/executor_overhead.py            # 500 runs at each concurrency
    .venv/bin/python bench/executor_overhead.py --runs 50  # a quick look
"""

import argparse
import asyncio
import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness import (
    Stack,
    command_cpu_seconds,
    cpu_seconds,
    format_summary,
    free_port,
    log,
    machine,
    machine_busy_seconds,
    peak_rss_mib,
    peak_rss_reset,
    pg_sessions,
    summary_ms,
)

try:
    from websockets.asyncio.client import connect
except ImportError as error:  # a dev requirement: `make install-dev` installs it
    raise SystemExit("bench/executor_overhead.py needs `websockets`: pip install -r requirements-dev.txt") from error

ASKERS = ("sarah", "omar", "olivia")  # demo people who may run `my-tickets`
REQUEST = {"message": "show my tickets", "skill": "my-tickets"}
# The API's session auth is tried before the token auth and enforces CSRF even when no session
# cookie is sent, so a token-only POST gets 403 "CSRF check Failed" (see bench/README.md). Until
# that is fixed, the client sends a matching CSRF cookie and header, as a browser would.
CSRF_SECRET = "benchbenchbenchbenchbenchbench00"  # noqa: S105 - 32 characters, not a credential
RUN_TIMEOUT_SECONDS = 60
FLOOR_PINGS_PER_SOCKET = 100
GOAL_RATIO = 3.0
GOAL_P99_MS = 100.0


# --- a minimal keep-alive HTTP/1.1 client (JSON in, JSON out) ------------------------------------


class HttpClient:
    def __init__(self, port: int, headers: dict[str, str]):
        self.port = port
        self.headers = headers
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, payload: dict) -> tuple[int, dict]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        body = json.dumps(payload).encode()
        head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Content-Type: application/json"]
        head += [f"Content-Length: {len(body)}", *(f"{key}: {value}" for key, value in self.headers.items())]
        self.writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        status = int((await self.reader.readline()).split()[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        data = await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, json.loads(data)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


# --- the people and their credentials ------------------------------------------------------------


@dataclass(frozen=True)
class Asker:
    username: str
    token: str
    session_key: str
    port: int

    def http(self) -> HttpClient:
        """A connection of its own: each concurrent asking loop opens one."""
        headers = {"Authorization": f"Bearer {self.token}", "Cookie": f"csrftoken={CSRF_SECRET}"}
        return HttpClient(self.port, {**headers, "X-CSRFToken": CSRF_SECRET})

    def ws(self, path: str):
        return connect(
            f"ws://127.0.0.1:{self.port}{path}",
            origin=f"http://127.0.0.1:{self.port}",
            additional_headers={"Cookie": f"sessionid={self.session_key}"},
            open_timeout=RUN_TIMEOUT_SECONDS,
        )


def askers_create(port: int) -> list[Asker]:
    """An API token and a signed-in session for each asker, made directly in the bench database."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from tenants.models import User
    from tenants.services import api_token_create

    askers = []
    for user in User.objects.filter(username__in=ASKERS).order_by("username"):
        _, raw = api_token_create(user=user, name="bench")
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        askers.append(Asker(user.username, raw, session.session_key, port))
    if len(askers) != len(ASKERS):
        raise RuntimeError(f"seed_demo did not create all of {ASKERS}")
    return askers


# --- one run -------------------------------------------------------------------------------------


@dataclass
class Sample:
    run_id: str
    sent_at: float  # wall clock (time.time()), to line up with the run's own timestamps
    post: float  # POST sent → 202 received (s)
    ws_open: float  # 202 received → websocket open (s)
    total: float  # POST sent → run.final received (s)


async def one_run(asker: Asker, http: HttpClient) -> Sample:
    sent_at, started = time.time(), time.perf_counter()
    status, body = await http.post_json("/api/runs", REQUEST)
    posted = time.perf_counter()
    if status != 202:
        raise RuntimeError(f"POST /api/runs answered {status}: {body}")
    async with asker.ws(f"/ws/runs/{body['id']}/") as ws:
        opened = time.perf_counter()
        async for raw in ws:
            event = json.loads(raw)
            if event["event"] == "run.final":
                if event["data"]["model"] != "test":
                    raise RuntimeError(f"the run used {event['data']['model']!r}, not the instant test model")
                finished = time.perf_counter()
                return Sample(body["id"], sent_at, posted - started, opened - posted, finished - started)
            if event["event"] == "run.error":
                raise RuntimeError(f"run {body['id']} failed: {event['data']}")
    raise RuntimeError(f"run {body['id']}: the websocket closed before run.final")


async def runs_at(askers: list[Asker], *, total: int, concurrency: int) -> tuple[list[Sample], float]:
    """`total` runs by `concurrency` parallel asking loops; returns the samples and the wall time."""
    counter = itertools.count()
    samples: list[Sample] = []
    step = max(1, total // 10)

    async def asking_loop(asker: Asker) -> None:
        http = asker.http()
        try:
            while next(counter) < total:
                samples.append(await asyncio.wait_for(one_run(asker, http), RUN_TIMEOUT_SECONDS))
                if len(samples) % step == 0:
                    log(f"  c={concurrency}: {len(samples)}/{total} runs")
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(asking_loop(askers[i % len(askers)]) for i in range(concurrency)))
    return samples, time.perf_counter() - started


def stages(samples: list[Sample]) -> dict[str, list[float]]:
    """Where each run's time went, from the client's clock and the run's own timestamps (seconds)."""
    from skills.models import SkillRun

    runs = {str(pk): run for pk, run in SkillRun.objects.in_bulk([s.run_id for s in samples]).items()}
    split: dict[str, list[float]] = {
        "POST sent → run row written": [],
        "run row → worker starts it": [],
        "worker: started → finished": [],
        "finished → run.final at client": [],
    }
    for sample in samples:
        run = runs[sample.run_id]
        queued, started, finished = (t.timestamp() for t in (run.queued_at, run.started_at, run.finished_at))
        received = sample.sent_at + sample.total
        for label, seconds in zip(
            split, (queued - sample.sent_at, started - queued, finished - started, received - finished), strict=True
        ):
            split[label].append(seconds)
    return split


# --- the floor -----------------------------------------------------------------------------------


@dataclass
class FloorSample:
    probe: float
    echo: float

    @property
    def total(self) -> float:
        return self.probe + self.echo


async def floor_samples(askers: list[Asker], *, total: int, concurrency: int) -> list[FloorSample]:
    """`total` iterations by `concurrency` parallel loops: a system_probe task round trip, then a
    websocket ping/pong on the loop's own socket. The same load as the runs at that concurrency,
    with nothing of Aspora's in it: the bare floor."""
    from aspora.tasks import system_probe_task

    counter = itertools.count()
    samples: list[FloorSample] = []
    step = max(1, total // 5)
    # Celery's publish and result wait block: each loop gets a thread of its own for them.
    threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="floor")

    def probe() -> dict:
        return system_probe_task.apply_async().get(timeout=RUN_TIMEOUT_SECONDS)

    async def floor_loop(asker: Asker) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # A consumer whose channel gets nothing for ~5 s may die with 1011 (see bench/README.md):
            # each socket serves at most FLOOR_PINGS_PER_SOCKET pings, opening it is not timed.
            async with asker.ws("/ws/events/") as ws:
                ready = json.loads(await ws.recv())
                if ready.get("event") != "session.ready":
                    raise RuntimeError(f"/ws/events/ opened with {ready}")
                for i in range(FLOOR_PINGS_PER_SOCKET):
                    if next(counter) >= total:
                        return
                    started = time.perf_counter()
                    report = await loop.run_in_executor(threads, probe)
                    probed = time.perf_counter()
                    if report["database"] != "ok" or report["channel_layer"] != "ok":
                        raise RuntimeError(f"system_probe reported {report}")
                    await ws.send(json.dumps({"event": "ping", "echo": i}))
                    pong = json.loads(await ws.recv())
                    echoed = time.perf_counter()
                    if pong != {"event": "pong", "echo": i}:
                        raise RuntimeError(f"expected a pong, got {pong}")
                    samples.append(FloorSample(probed - started, echoed - probed))
                    if len(samples) % step == 0:
                        log(f"  floor c={concurrency}: {len(samples)}/{total}")

    try:
        await asyncio.gather(*(floor_loop(askers[i % len(askers)]) for i in range(concurrency)))
    finally:
        threads.shutdown()
    return samples


# --- main ----------------------------------------------------------------------------------------


class Meter:
    """Peak RSS of the server and worker process trees over one phase, and where the CPU went."""

    def __init__(self, daphne_pid: int, worker_pid: int, db_name: str):
        self.pids = {"daphne": daphne_pid, "worker tree": worker_pid}
        self.db_name = db_name

    def _cpu(self) -> dict[str, float]:
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        cpu["bench client"] = time.process_time()
        cpu["postgres"] = command_cpu_seconds("postgres")
        cpu["redis"] = command_cpu_seconds("redis-server")
        cpu["machine"] = machine_busy_seconds()
        return cpu

    def __enter__(self) -> "Meter":
        for pid in self.pids.values():
            peak_rss_reset(pid)
        self.cpu_before = self._cpu()
        self.sessions_before = pg_sessions(self.db_name)
        return self

    def __exit__(self, *exc) -> None:
        self.rss = {name: peak_rss_mib(pid) for name, pid in self.pids.items()}
        time.sleep(1)  # closed sessions reach the statistics within a second
        self.sessions = pg_sessions(self.db_name) - self.sessions_before
        self.cpu = {name: seconds - self.cpu_before[name] for name, seconds in self._cpu().items()}
        busy = self.cpu.pop("machine")
        # What none of the above used: other processes and the kernel (a busy machine shows here).
        self.cpu["rest of the machine"] = max(0.0, busy - sum(self.cpu.values()))

    def lines(self, iterations: int) -> list[str]:
        rss = ", ".join(f"{name} {mib:.0f} MiB" for name, mib in self.rss.items())
        cpu = ", ".join(f"{name} {seconds / iterations * 1000:.1f}" for name, seconds in self.cpu.items())
        return [
            f"peak RSS (VmHWM): {rss}",
            f"CPU per iteration (ms): {cpu}",
            f"PostgreSQL connections opened per iteration: {self.sessions / iterations:.1f}",
        ]


async def measure(args, askers: list[Asker], daphne_pid: int, worker_pid: int) -> dict:
    log("warming up (20 runs at c=1, 40 at c=20; not recorded)…")
    await runs_at(askers, total=20, concurrency=1)
    await runs_at(askers, total=40, concurrency=20)

    results = {}
    for concurrency in args.concurrency:
        log(f"floor: {args.floor} iterations of (system_probe round trip + websocket echo), c={concurrency}…")
        with Meter(daphne_pid, worker_pid, args.db) as meter:
            floor = await floor_samples(askers, total=args.floor, concurrency=concurrency)
        floor_result = (floor, meter)
        log(f"overhead: {args.runs} runs at concurrency {concurrency}…")
        with Meter(daphne_pid, worker_pid, args.db) as meter:
            samples, wall = await runs_at(askers, total=args.runs, concurrency=concurrency)
        results[concurrency] = (floor_result, (samples, wall, meter))
    return results


def report(results: dict) -> None:
    print("\n== Executor overhead: production mode, ASPORA_MODEL=test (instant model) ==")
    print(f"machine at the end: {machine()}")
    verdicts = []
    first_floor_p99 = None
    for concurrency, ((floor, floor_meter), (samples, wall, meter)) in results.items():
        floor_p99 = summary_ms([s.total for s in floor])["p99"]
        first_floor_p99 = first_floor_p99 or floor_p99
        print(f"floor, c={concurrency} ({len(floor)} iterations)")
        print(format_summary("  system_probe task round trip", [s.probe for s in floor]))
        print(format_summary("  websocket echo round trip", [s.echo for s in floor]))
        print(format_summary("  floor = probe + echo", [s.total for s in floor]))
        for line in floor_meter.lines(len(floor)):
            print(f"  {line}")
        p99 = summary_ms([s.total for s in samples])["p99"]
        ratio = p99 / floor_p99
        print(f"run end to end, c={concurrency} ({len(samples)} runs)")
        print(format_summary("  POST → run.final on websocket", [s.total for s in samples]))
        print(f"  throughput {len(samples) / wall:.1f} runs/s ({len(samples)} runs in {wall:.1f} s)")
        print("  client view:")
        print(format_summary("    POST sent → 202 received", [s.post for s in samples]))
        print(format_summary("    202 → websocket open", [s.ws_open for s in samples]))
        print("  stages (client clock + the run's timestamps):")
        for label, seconds in stages(samples).items():
            print(format_summary(f"    {label}", seconds))
        for line in meter.lines(len(samples)):
            print(f"  {line}")
        print(f"  p99 / floor p99 at c={concurrency} = {p99:.1f} / {floor_p99:.1f} = {ratio:.2f}x")
        if concurrency != next(iter(results)):
            print(f"  p99 / the first floor's p99 = {p99:.1f} / {first_floor_p99:.1f} = {p99 / first_floor_p99:.2f}x")
        met = ratio <= GOAL_RATIO and p99 < GOAL_P99_MS
        verdicts.append(
            f"c={concurrency}: p99 {p99:.1f} ms = {ratio:.2f}x the floor's p99 at c={concurrency}: "
            f"{'MET' if met else 'NOT MET'} (goal: at most {GOAL_RATIO:.0f}x the floor and under {GOAL_P99_MS:.0f} ms)"
        )
    print("goals")
    for verdict in verdicts:
        print(f"  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="measured runs at each concurrency (default 500)")
    parser.add_argument("--floor", type=int, default=500, help="floor iterations (default 500)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 20], help="default: 1 20")
    parser.add_argument("--port", type=int, default=0, help="daphne port (default: a free one)")
    parser.add_argument("--db", default="aspora_bench", help="PostgreSQL database, dropped and recreated")
    parser.add_argument("--redis-db", type=int, default=7, help="Redis db number, flushed (default 7)")
    args = parser.parse_args()
    args.port = args.port or free_port()

    with Stack(name="executor", db_name=args.db, redis_db=args.redis_db) as stack:
        daphne = stack.start_daphne(args.port)
        worker = stack.start_celery_worker(concurrency=2)
        askers = askers_create(args.port)
        log(f"askers: {', '.join(a.username for a in askers)} (an API token and a session each)")
        results = asyncio.run(measure(args, askers, daphne.pid, worker.pid))
        report(results)


if __name__ == "__main__":
    main()
