"""The Greptile reviewer, over Greptile's HTTP API (v2) when `GREPTILE_API_KEY` is set.

Greptile reads code from a Git host, so the target must be mirrored there
(`GREPTILE_REPOSITORY`, e.g. `acme/wealth-portfolio`, on `GREPTILE_REMOTE`, github by default)
with the run's branch pushed. One review:

1. `POST /repositories` {remote, repository, branch, reload: true}: (re)index the branch;
2. `GET /repositories/{remote:branch:owner/repo}` until the indexed `sha` is the worktree's HEAD
   (bounded by `GREPTILE_INDEX_WAIT` seconds): a review of another commit would break the SHA
   discipline, so it is an error, not a pass;
3. `POST /query` asking for a review of the changed files as JSON findings.

Every request carries `Authorization: Bearer <GREPTILE_API_KEY>` and `X-GitHub-Token`. A refusal
(401/403), rate limit (429), server error, timeout or an answer that is not the findings asked for
raises ReviewerError naming what went wrong; it never counts as a clean review.
"""

import json
import os
import re
import subprocess  # nosec B404
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx2
from django.conf import settings
from pydantic import ValidationError

from factory.reviewers.base import ReviewerError, ReviewFinding, findings_sorted, reviewable
from factory.reviewers.llm import ModelReview, findings_from_model

DEFAULT_BASE_URL = "https://api.greptile.com/v2"
QUESTION = """\
Review the change on this branch before it is deployed. Look only at these files:
{files}
Report real problems (bugs, security holes, data leaks across tenants, money computed with floats,
identity taken from tool arguments), not style. Answer with JSON only, no prose, in this shape:
{{"findings": [{{"path": "<file as listed>", "line": <line or null>, "severity": "info|low|medium|high|critical",
"rule_id": "<short-kebab-case-id>", "message": "<one sentence>"}}]}}
No problems: {{"findings": []}}."""


def _setting(name: str, default: str = "") -> str:
    return getattr(settings, name, None) or os.environ.get(name) or default


def _git(worktree: Path, *args: str) -> str:
    # git from PATH, as the factory's own git helpers run it.
    result = subprocess.run(  # noqa: S603  # nosec B603 B607
        ["git", *args],  # noqa: S607
        cwd=worktree,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def _answer_json(message: str) -> dict | None:
    text = message.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end < start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


class GreptileReviewer:
    name = "greptile"

    def __init__(
        self,
        *,
        api_key: str,
        repository: str,
        base_url: str = DEFAULT_BASE_URL,
        github_token: str = "",
        remote: str = "github",
        branch: str = "",
        timeout: float = 60.0,
        index_wait: float = 300.0,
        poll_seconds: float = 5.0,
    ):
        self.api_key = api_key
        self.repository = repository
        self.base_url = base_url.rstrip("/")
        self.github_token = github_token
        self.remote = remote
        self.branch = branch
        self.timeout = timeout
        self.index_wait = index_wait
        self.poll_seconds = poll_seconds

    @classmethod
    def from_settings(cls) -> "GreptileReviewer | None":
        api_key = os.environ.get("GREPTILE_API_KEY", "")
        if not api_key:
            return None
        return cls(
            api_key=api_key,
            repository=_setting("GREPTILE_REPOSITORY"),
            base_url=_setting("GREPTILE_BASE_URL", DEFAULT_BASE_URL),
            github_token=os.environ.get("GREPTILE_GITHUB_TOKEN", "") or os.environ.get("GITHUB_TOKEN", ""),
            remote=_setting("GREPTILE_REMOTE", "github"),
            branch=_setting("GREPTILE_BRANCH"),
            timeout=float(_setting("GREPTILE_TIMEOUT", "60")),
            index_wait=float(_setting("GREPTILE_INDEX_WAIT", "300")),
            poll_seconds=float(_setting("GREPTILE_POLL_SECONDS", "5")),
        )

    def _error(self, message: str) -> ReviewerError:
        return ReviewerError(f"Greptile: {message}", reviewer=self.name)

    def _request(self, client: httpx2.Client, method: str, path: str, body: dict | None = None) -> dict:
        try:
            response = client.request(method, self.base_url + path, json=body)
        except httpx2.TimeoutException as exc:
            raise self._error(f"no answer to {method} {path} within {self.timeout:g} s") from exc
        except httpx2.RequestError as exc:
            raise self._error(f"could not reach {self.base_url} ({type(exc).__name__}: {exc})") from exc
        status = response.status_code
        if status in (401, 403):
            raise self._error(f"the API key or the Git token was refused ({status}); check GREPTILE_API_KEY")
        if status == 429:
            after = response.headers.get("retry-after")
            raise self._error("rate limited (429)" + (f"; retry after {after} s" if after else ""))
        if status >= 400:
            detail = response.text[:300].strip()
            raise self._error(f"{method} {path} answered {status}" + (f": {detail}" if detail else ""))
        try:
            data = response.json()
        except ValueError as exc:
            raise self._error(f"{method} {path} answered with something that is not JSON") from exc
        if not isinstance(data, dict):
            raise self._error(f"{method} {path} answered with JSON that is not an object")
        return data

    def _wait_for_index(self, client: httpx2.Client, *, branch: str, head: str) -> None:
        repo_id = quote(f"{self.remote}:{branch}:{self.repository}", safe="")
        deadline = time.monotonic() + self.index_wait
        while True:
            repo = self._request(client, "GET", f"/repositories/{repo_id}")
            status, sha = repo.get("status", ""), repo.get("sha") or ""
            if status == "failed":
                raise self._error(f"indexing {self.repository}@{branch} failed")
            if sha == head and status in ("completed", ""):
                return
            if time.monotonic() >= deadline:
                raise self._error(
                    f"after {self.index_wait:g} s {self.repository}@{branch} is indexed at "
                    f"{sha[:12] or 'no commit'} ({status or 'no status'}), but the worktree is at {head[:12]}; "
                    "push the run's branch so Greptile reviews the commit the gate judges"
                )
            time.sleep(self.poll_seconds)

    def review(self, *, worktree: Path, paths: list[str]) -> list[ReviewFinding]:
        if not self.repository:
            raise self._error("GREPTILE_REPOSITORY (owner/name of the mirrored repository) is not set")
        root = worktree.resolve()
        files = reviewable(root, paths, reviewer=self.name, suffix=None)
        if not files:
            return []
        branch = self.branch or _git(root, "rev-parse", "--abbrev-ref", "HEAD")
        head = _git(root, "rev-parse", "HEAD")
        if not branch or not head:
            raise self._error(f"{worktree} is not a git worktree with a commit to review")
        headers = {"Authorization": f"Bearer {self.api_key}", "X-GitHub-Token": self.github_token}
        ref = {"remote": self.remote, "repository": self.repository, "branch": branch}
        with httpx2.Client(headers=headers, timeout=self.timeout) as client:
            self._request(client, "POST", "/repositories", {**ref, "reload": True, "notify": False})
            self._wait_for_index(client, branch=branch, head=head)
            question = QUESTION.format(files="\n".join(f"- {path}" for path in files))
            answer = self._request(
                client,
                "POST",
                "/query",
                {
                    "messages": [{"id": str(uuid.uuid4()), "role": "user", "content": question}],
                    "repositories": [ref],
                    "genius": True,
                    "stream": False,
                },
            )
        data = _answer_json(str(answer.get("message", "")))
        if data is None:
            raise self._error("the answer was not the JSON findings asked for: " + str(answer.get("message", ""))[:200])
        try:
            review = ModelReview.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            raise self._error(f"the answer's findings are malformed: {first['msg']}") from exc
        sources = {path: (root / path).read_text(errors="replace") for path in files}
        return findings_sorted(findings_from_model(review.findings, reviewer=self.name, sources=sources))
