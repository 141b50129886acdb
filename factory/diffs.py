"""Reading a run's diff for people: `git diff` output parsed into files of numbered lines."""

import re
from dataclasses import dataclass, field

from factory import git
from factory.models import FactoryRun
from factory.pipeline import repo_path, worktree_path

OPEN_DIFF_LINES = 300  # lines of diff shown open before the rest of the files start folded
LONG_DIFF_FILE = 400  # lines; longer files start collapsed


@dataclass
class DiffFile:
    path: str
    status: str = "modified"
    additions: int = 0
    deletions: int = 0
    lines: list[tuple[str, int | None, int | None, str]] = field(default_factory=list)
    expanded: bool = True

    @property
    def long(self) -> bool:
        return len(self.lines) > LONG_DIFF_FILE


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def diff_parse(text: str) -> tuple[list[DiffFile], bool]:
    """`git diff` output as files of (kind, old line, new line, text) rows; and whether it was cut."""
    files: list[DiffFile] = []
    current, in_header, old, new, cut = None, True, 0, 0, False
    for raw in text.split("\n"):
        if raw.startswith("diff --git "):
            current, in_header = DiffFile(path=raw.rsplit(" b/", 1)[-1]), True
            files.append(current)
        elif raw.startswith("… diff cut at"):
            cut = True
        elif current is None:
            continue
        elif raw.startswith("@@"):
            match = _HUNK.match(raw)
            old, new = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
            current.lines.append(("hunk", None, None, raw))
            in_header = False
        elif in_header:
            if raw.startswith("new file mode"):
                current.status = "added"
            elif raw.startswith("deleted file mode"):
                current.status = "deleted"
            elif raw.startswith("Binary files"):
                current.status = "binary"
            elif raw.startswith("+++ b/"):
                current.path = raw[6:]
        elif raw.startswith("+"):
            current.lines.append(("add", None, new, raw[1:]))
            current.additions, new = current.additions + 1, new + 1
        elif raw.startswith("-"):
            current.lines.append(("del", old, None, raw[1:]))
            current.deletions, old = current.deletions + 1, old + 1
        elif raw.startswith("\\"):
            current.lines.append(("note", None, None, raw[2:]))
        elif raw:
            current.lines.append(("ctx", old, new, raw[1:]))
            old, new = old + 1, new + 1
    return files, cut


def factory_run_diff(*, run: FactoryRun) -> dict:
    """The run's change, base..head, as files ready to show; read from its worktree or repository."""
    if not (run.base_sha and run.head_sha):
        empty = "The run made no commit." if run.is_finished else "The diff appears once generate commits."
        return {"files": [], "error": "", "empty": empty}
    tree = worktree_path(run)
    where = tree if tree.is_dir() else repo_path(run)  # the repository holds the commits once a worktree is gone
    try:
        text = git.diff(where, run.base_sha, run.head_sha)
    except (git.GitError, OSError) as exc:
        return {"files": [], "error": f"The diff could not be read: {exc}", "empty": ""}
    files, cut = diff_parse(text)
    # A whole generated product is thousands of lines: open files only while the page stays readable.
    shown = 0
    for diff_file in files:
        diff_file.expanded = not diff_file.long and shown + len(diff_file.lines) <= OPEN_DIFF_LINES
        shown += len(diff_file.lines) if diff_file.expanded else 0
    return {
        "files": files,
        "cut": cut,
        "additions": sum(f.additions for f in files),
        "deletions": sum(f.deletions for f in files),
        "error": "",
        "empty": "" if files else f"{run.base_sha[:10]}..{run.head_sha[:10]} changes no file.",
    }
