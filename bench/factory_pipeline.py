"""Code Factory wall time: each stage and the whole run, for the two demo specs, offline.

Each repetition starts from a clean slate in a temporary folder — a migrated, seeded SQLite
database (copied from one made at the start), a fresh factory workspace and a fresh copy of the
domain packs — and runs `manage.py factory_run --spec … --as paula --wait --json` in the embedded
default (the offline generators, local review, the offline model for skill evals). A product that
waits for approval is approved with `factory_approve --as olivia`, which deploys it; the time a
person would take to approve is not counted (the approval command's own time is).

    .venv/bin/python bench/factory_pipeline.py             # 5 repetitions of each spec
    .venv/bin/python bench/factory_pipeline.py --repeat 2  # a quicker look
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from harness import ROOT, format_summary, log, machine

SPECS = {
    "product": ROOT / "factory" / "specs" / "wealth-portfolio-checker.md",
    "skill": ROOT / "factory" / "specs" / "ecm-stale-escalations.md",
}
GOALS_SECONDS = {"product": 90.0, "skill": 30.0}


def manage(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=check
    )


def clean_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "ASPORA_MODEL")}
    env.update(
        ASPORA_SQLITE_PATH=str(base / "db.sqlite3"),
        ASPORA_DOMAINS_DIR=str(base / "domains"),
        ASPORA_FACTORY_DIR=str(base / "factory"),
        ASPORA_FACTORY_DISPATCH="inline",
    )
    return env


def stop_products_under(folder: Path) -> int:
    """Deployed products outlive the commands that started them (their own sessions): stop them."""
    stopped = 0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")).is_relative_to(folder):
                os.kill(int(proc.name), signal.SIGTERM)
                stopped += 1
        except OSError:
            continue
    return stopped


def one_run(kind: str, template_db: Path, workdir: Path) -> dict:
    base = Path(tempfile.mkdtemp(dir=workdir))
    shutil.copy(template_db, base / "db.sqlite3")
    shutil.copytree(ROOT / "domains", base / "domains", ignore=shutil.ignore_patterns("__pycache__"))
    env = clean_env(base)
    started = time.perf_counter()
    queued = manage(
        "factory_run", "--spec", str(SPECS[kind]), "--as", "paula", "--wait", "--json", env=env, check=False
    )
    if not queued.stdout.strip():
        raise SystemExit(f"factory_run printed nothing:\n{queued.stderr}")
    run = json.loads(queued.stdout)
    if run["status"] == "waiting_approval":
        approved = manage(
            "factory_approve", run["id"], "--sha", run["head_sha"], "--as", "olivia", "--json", env=env, check=False
        )
        run = json.loads(approved.stdout)
    wall = time.perf_counter() - started
    stop_products_under(base)
    if run["status"] != "deployed":
        raise SystemExit(f"{kind} run ended {run['status']}: {run['stop_reason']}\n{queued.stderr}")
    return {"wall": wall, "run": run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()

    log(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="aspora-factory-bench-") as tmp:
        workdir = Path(tmp)
        template = workdir / "template"
        template.mkdir()
        env = clean_env(template)
        shutil.copytree(ROOT / "domains", template / "domains", ignore=shutil.ignore_patterns("__pycache__"))
        log("migrating and seeding the template database (not timed)")
        manage("migrate", "--noinput", env=env)
        manage("seed_demo", env=env)
        verdicts = []
        for kind in ("skill", "product"):
            stages: dict[str, list[float]] = defaultdict(list)
            walls, runs = [], []
            for index in range(options.repeat):
                result = one_run(kind, template / "db.sqlite3", workdir)
                walls.append(result["wall"])
                runs.append(result["run"]["duration_seconds"])
                for stage in result["run"]["stages"]:
                    if stage["duration_ms"] is not None:
                        stages[stage["name"]].append(stage["duration_ms"] / 1000)
                log(f"{kind} {index + 1}/{options.repeat}: {result['wall']:.1f} s, tier {result['run']['tier']}")
            print(f"\n== {kind}: {SPECS[kind].name} ({options.repeat} runs) ==")
            for name, samples in stages.items():
                print(format_summary(f"  stage {name}", samples))
            print(format_summary("  run (first stage → deployed)", runs))
            print(format_summary("  spec → deployed (commands' wall)", walls))
            goal = GOALS_SECONDS[kind]
            worst = max(walls)
            verdict = "MET" if worst < goal else "NOT MET"
            verdicts.append(f"{kind}: worst spec → deployed {worst:.1f} s: {verdict} (goal {goal:.0f} s)")
        print(f"\nmachine at the end: {machine()}")
        print("goals\n  " + "\n  ".join(verdicts))


if __name__ == "__main__":
    main()
