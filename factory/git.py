"""The factory's git: one real repository per target, a worktree and a branch per run.

Everything goes through the `git` command line with a fixed identity, so what a run did can be
inspected, diffed and replayed with ordinary git tools. Nothing here knows about runs or models.
"""

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

AUTHOR_NAME = "Aspora Factory"
AUTHOR_EMAIL = "factory@aspora.invalid"
MAIN = "main"
MAX_DIFF_CHARS = 400_000
GIT = shutil.which("git") or "/usr/bin/git"
TAR = shutil.which("tar") or "/usr/bin/tar"


class GitError(RuntimeError):
    pass


def _env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME=AUTHOR_NAME,
        GIT_AUTHOR_EMAIL=AUTHOR_EMAIL,
        GIT_COMMITTER_NAME=AUTHOR_NAME,
        GIT_COMMITTER_EMAIL=AUTHOR_EMAIL,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        HOME=env_home(),
    )
    return env


def env_home() -> str:
    # A fixed, empty home keeps a developer's global git config (hooks, signing) out of the factory.
    home = Path(os.environ.get("ASPORA_GIT_HOME", Path.home() / ".cache" / "aspora-git-home"))
    home.mkdir(parents=True, exist_ok=True)
    return str(home)


def git(*args: str, cwd: Path, check: bool = True) -> str:
    result = subprocess.run(  # noqa: S603 - fixed executable, arguments are ours
        [GIT, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


@contextlib.contextmanager
def repo_lock(path: Path) -> Iterator[None]:
    """One process at a time changes a target's repository (its main branch, worktrees, merges):
    two runs on the same pack must not sync and merge over each other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def repo_ensure(path: Path, *, seed_from: Path | None = None) -> Path:
    """Create the target's repository on first use (from `seed_from`'s files if given)."""
    if (path / ".git").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", f"--initial-branch={MAIN}", cwd=path)
    if seed_from is not None:
        _copy_tree(seed_from, path)
        git("add", "--all", cwd=path)
    git("commit", "--quiet", "--allow-empty", "-m", f"Start {path.name}", cwd=path)
    return path


def repo_sync_from(path: Path, source: Path, *, message: str) -> str | None:
    """Make the repository's main branch hold exactly `source`'s files; commit if that changed them."""
    for entry in path.iterdir():
        if entry.name == ".git":
            continue
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    _copy_tree(source, path)
    git("add", "--all", cwd=path)
    if not git("status", "--porcelain", cwd=path):
        return None
    git("commit", "--quiet", "-m", message, cwd=path)
    return head(path)


def _copy_tree(source: Path, destination: Path) -> None:
    ignore = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "*.sqlite3")
    shutil.copytree(source, destination, dirs_exist_ok=True, ignore=ignore)


@dataclass(frozen=True)
class Worktree:
    repo: Path
    path: Path
    branch: str
    base: str


def worktree_add(repo: Path, *, path: Path, branch: str) -> Worktree:
    """A fresh worktree on a new branch from main; an existing one (a resumed run) is reset to main."""
    base = head(repo, MAIN)
    if path.exists():
        git("worktree", "remove", "--force", str(path), cwd=repo, check=False)
        shutil.rmtree(path, ignore_errors=True)
    git("worktree", "prune", cwd=repo)
    git("worktree", "add", "--quiet", "-B", branch, str(path), MAIN, cwd=repo)
    return Worktree(repo=repo, path=path, branch=branch, base=base)


def worktree_remove(repo: Path, path: Path) -> None:
    git("worktree", "remove", "--force", str(path), cwd=repo, check=False)
    shutil.rmtree(path, ignore_errors=True)


def head(path: Path, ref: str = "HEAD") -> str:
    return git("rev-parse", ref, cwd=path)


def commit_all(path: Path, message: str) -> str | None:
    """Commit every change in the worktree; None when there was nothing to commit."""
    git("add", "--all", cwd=path)
    if not git("status", "--porcelain", cwd=path):
        return None
    git("commit", "--quiet", "-m", message, cwd=path)
    return head(path)


def changed_paths(path: Path, base: str, sha: str = "HEAD") -> list[str]:
    out = git("diff", "--name-only", "--no-renames", f"{base}..{sha}", cwd=path)
    return [line for line in out.splitlines() if line]


def diff(path: Path, base: str, sha: str = "HEAD") -> str:
    text = git("diff", "--no-color", "--no-renames", f"{base}..{sha}", cwd=path)
    if len(text) > MAX_DIFF_CHARS:
        return text[:MAX_DIFF_CHARS] + f"\n… diff cut at {MAX_DIFF_CHARS:,} characters\n"
    return text


def _succeeds(*args: str, cwd: Path) -> bool:
    return subprocess.run([GIT, *args], cwd=cwd, env=_env(), capture_output=True).returncode == 0  # noqa: S603


def is_ancestor(path: Path, ancestor: str, descendant: str) -> bool:
    return _succeeds("merge-base", "--is-ancestor", ancestor, descendant, cwd=path)


def exists_at(repo: Path, sha: str, path: str) -> bool:
    return _succeeds("cat-file", "-e", f"{sha}:{path}", cwd=repo)


def blob(repo: Path, sha: str, path: str) -> bytes:
    """A file's bytes as commit `sha` has them."""
    return subprocess.run(  # noqa: S603 - fixed executable
        [GIT, "show", f"{sha}:{path}"], cwd=repo, capture_output=True, env=_env(), check=True
    ).stdout


def merge_to_main(repo: Path, sha: str) -> str:
    """Fast-forward main to `sha`, or merge it when main moved on; returns main's new head."""
    main_tree = repo
    git("checkout", "--quiet", MAIN, cwd=main_tree)
    if is_ancestor(repo, head(repo, MAIN), sha):
        git("merge", "--quiet", "--ff-only", sha, cwd=main_tree)
    else:
        git("merge", "--quiet", "--no-edit", "-m", f"Merge {sha[:12]}", sha, cwd=main_tree)
    return head(repo, MAIN)


def export_tree(repo: Path, sha: str, destination: Path) -> Path:
    """Write the files of commit `sha` (nothing else) to `destination`."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    archive = subprocess.run(  # noqa: S603 - fixed executable
        [GIT, "archive", "--format=tar", sha], cwd=repo, env=_env(), capture_output=True, check=True
    )
    subprocess.run([TAR, "-x", "-C", str(destination)], input=archive.stdout, check=True)  # noqa: S603
    return destination
