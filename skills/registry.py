"""Domain packs on disk ⇄ the database, which is the runtime truth.

Invariants:
- `pack_sync()` writes nothing for an invalid `aspora.config.yaml`, and nothing for an invalid
  skill file: that skill's current version stays live and the problem is reported.
- A changed file (content or its config entry) becomes a new `SkillVersion`; an unchanged one
  writes nothing. Every process reads the current version from the database when a run starts,
  so an import is live everywhere at once, with no restart and no cache to invalidate (agents
  are cached per immutable version).
- `packs_export()` writes the database's current versions back as packs.
"""

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings
from django.db import transaction

from skills.models import Domain, Skill, Source
from skills.packs import CONFIG_FILE, PackProblem, pack_read
from skills.services import SkillValidationError, domain_grants_apply, skill_version_create
from tenants.models import User

logger = logging.getLogger(__name__)


def domains_root() -> Path:
    return Path(settings.ASPORA_DOMAINS_DIR)


def pack_paths(root: Path | None = None) -> list[Path]:
    root = root or domains_root()
    return sorted(p.parent for p in root.glob(f"*/{CONFIG_FILE}"))


@dataclass
class SyncReport:
    path: Path
    domain: str | None = None
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[PackProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def pack_sync(*, path: Path, source: str = Source.FILE, author: User | None = None) -> SyncReport:
    read = pack_read(path)
    report = SyncReport(path=path, problems=list(read.problems))
    if read.config is None:
        return report
    meta = read.config.domain
    report.domain = meta.name
    with transaction.atomic():
        domain, created = Domain.objects.update_or_create(
            name=meta.name,
            defaults={
                "description": meta.description,
                "scope": meta.scope,
                "owner": meta.owner,
                "config": meta.model_dump(mode="json"),
                "pack_path": str(path),
            },
        )
        if created:
            domain_grants_apply(domain=domain)
        for parsed in read.skills:
            before = Skill.objects.filter(name=parsed.entry.name).values_list("current_version_id", flat=True).first()
            try:
                with transaction.atomic():
                    version = skill_version_create(domain=domain, parsed=parsed, source=source, author=author)
            except SkillValidationError as exc:
                report.problems.extend(exc.problems)
                continue
            if before is None:
                report.created.append(parsed.entry.name)
            elif before != version.pk:
                report.updated.append(parsed.entry.name)
            else:
                report.unchanged.append(parsed.entry.name)
    for problem in report.problems:
        logger.warning("skill pack problem: %s", problem)
    return report


def packs_sync(paths: list[Path] | None = None) -> list[SyncReport]:
    """Sync every pack; one broken pack never stops the others from loading."""
    return [pack_sync(path=path) for path in (paths or pack_paths())]


def packs_export(*, out: Path) -> list[Path]:
    written = []
    for domain in Domain.objects.prefetch_related("skills__current_version"):
        pack = out / domain.name
        entries = []
        for skill in domain.skills.all():
            version = skill.current_version
            if version is None:
                continue
            config = dict(version.config)
            target = pack / config["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(version.content, encoding="utf-8")
            written.append(target)
            entries.append(config)
        pack.mkdir(parents=True, exist_ok=True)
        meta = {
            key: domain.config.get(key)
            for key in ("name", "description", "scope", "owner", "grants", "governance")
            if key in domain.config
        }
        text = yaml.safe_dump({"domain": meta, "skills": entries}, sort_keys=False, allow_unicode=True)
        (pack / CONFIG_FILE).write_text(text, encoding="utf-8")
        written.append(pack / CONFIG_FILE)
    return written


def _pack_of(changed: Path, root: Path) -> Path | None:
    try:
        relative = changed.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return root / relative.parts[0] if relative.parts else None


def packs_watch(*, root: Path | None = None, stop_event: threading.Event | None = None, on_report=None) -> None:
    """Import each pack as its files change, until `stop_event` is set. Blocks."""
    from django.db import connections
    from watchfiles import watch

    root = root or domains_root()
    for changes in watch(root, stop_event=stop_event, debounce=50, step=20, rust_timeout=200):
        packs = {_pack_of(Path(path), root) for _, path in changes}
        for pack in sorted(p for p in packs if p is not None and (p / CONFIG_FILE).exists()):
            try:
                report = pack_sync(path=pack)
            finally:
                connections.close_all()  # this thread may sleep for hours: hold no connection
            logger.info(
                "reloaded pack %s: created=%s updated=%s problems=%d",
                pack.name,
                report.created,
                report.updated,
                len(report.problems),
            )
            if on_report:
                on_report(report)


def packs_sync_then_watch(*, root: Path | None = None) -> None:
    """Import every pack at start-up (a broken one is reported, the rest load), then follow edits."""
    from django.db import connections

    try:
        packs_sync(pack_paths(root))
    finally:
        connections.close_all()
    packs_watch(root=root)


def packs_watch_in_background(*, root: Path | None = None) -> threading.Thread:
    thread = threading.Thread(
        target=packs_sync_then_watch, kwargs={"root": root}, name="aspora-pack-watcher", daemon=True
    )
    thread.start()
    return thread
