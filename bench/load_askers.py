"""Load test: 50 concurrent askers for one minute through the API and the run's websocket.

Production mode on loopback with the instant model (`ASPORA_MODEL=test`): one Daphne, one Celery
worker (prefork, -c 2), PostgreSQL database `aspora_bench_load` and Redis db 9 (see harness.py;
both recreated, then dropped). Locust (bench/locustfile_askers.py) runs headless and bounded in
time; each asker posts `POST /api/runs` with a personal token, follows `/ws/runs/<id>/` to
`run.final`, thinks 0.5 to 1.5 s and asks again. Reports requests/s, p50/p95/p99 and errors; exits
non-zero when any request failed.

    .venv/bin/python bench/load_askers.py                 # 50 askers, 60 s
    .venv/bin/python bench/load_askers.py --users 10 --seconds 20
"""

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import ROOT, Stack, free_port, log, machine

HERE = Path(__file__).resolve().parent


def _stats(prefix: Path) -> list[dict]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _line(row: dict) -> str:
    return (
        f"{row['Type'] or '':<5} {row['Name']:<32} n={row['Request Count']:>6}  errors={row['Failure Count']:>3}  "
        f"{float(row['Requests/s']):6.1f} req/s  p50={row['50%']:>5} ms  p95={row['95%']:>5} ms  "
        f"p99={row['99%']:>5} ms  max={float(row['Max Response Time']):7.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50, help="concurrent askers (default 50)")
    parser.add_argument("--seconds", type=int, default=60, help="how long the load lasts (default 60)")
    args = parser.parse_args()

    env = {
        # The per-person rate limit (20 a minute) would refuse a load test by design; 50 askers
        # share three demo identities here.
        "ASPORA_RATE_LIMIT_PER_MINUTE": "1000000",
    }
    with Stack(name="load", db_name="aspora_bench_load", redis_db=9, extra_env=env) as stack:
        port = free_port()
        stack.start_daphne(port)
        stack.start_celery_worker(concurrency=2)
        from executor_overhead import askers_create

        people = [{"username": a.username, "token": a.token, "session": a.session_key} for a in askers_create(port)]
        work = Path(tempfile.mkdtemp(prefix="aspora-load-"))
        credentials = work / "credentials.json"
        credentials.write_text(json.dumps(people))
        prefix = work / "locust"
        from django.utils import timezone

        load_started = timezone.now()
        before = machine()
        log(f"machine before the load: {before}")
        argv = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile_askers.py"), "--headless",
                "-u", str(args.users), "-r", str(args.users), "-t", f"{args.seconds}s", "--stop-timeout", "30",
                "--host", f"http://127.0.0.1:{port}", "--csv", str(prefix), "--only-summary",
                "--exit-code-on-error", "1"]  # fmt: skip
        log(f"locust: {args.users} askers for {args.seconds} s…")
        result = subprocess.run(argv, cwd=ROOT, env={**stack.env, "LOAD_ASKERS_CREDENTIALS": str(credentials)},
                                capture_output=True, text=True, timeout=args.seconds + 120, check=False)  # fmt: skip
        after = machine()
        stack.check_alive()
        rows = _stats(prefix)
        from skills.models import SkillRun

        runs = SkillRun.objects.filter(queued_at__gte=load_started)
        statuses = {s: runs.filter(status=s).count() for s in ("succeeded", "running", "pending", "failed")}

    print()
    print(f"== Load: {args.users} concurrent askers for {args.seconds} s, production mode, ASPORA_MODEL=test ==")
    print(f"machine before: {before}")
    print(f"machine after:  {after}")
    for row in rows:
        print(_line(row))
    print(
        f"runs of the load: {statuses['succeeded']} succeeded, {statuses['failed']} failed, "
        f"{statuses['running']} left running, {statuses['pending']} left pending"
    )
    errors = sum(int(row["Failure Count"]) for row in rows if row["Name"] == "Aggregated")
    if result.returncode != 0 or errors or statuses["failed"] or statuses["running"] or statuses["pending"]:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(f"load test failed: {errors} errors, locust exit code {result.returncode}")


if __name__ == "__main__":
    main()
