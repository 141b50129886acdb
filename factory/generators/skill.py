"""The skill generator: a skill spec becomes `skills/<name>/SKILL.md` and its entry in the pack's
`aspora.config.yaml`, validated by the same reader the registry uses (`skills.packs`).

The worktree is a copy of one domain pack. The config file is edited as text, one entry inserted or
replaced, so the rest of the file (comments, flow lists, blank lines) stays as its owners wrote it.
Nothing is left half-written: when the result does not validate, both files are put back.
"""

import importlib
import pkgutil
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from factory.generators import Generation, SpecIncomplete
from factory.specs import SkillSpec
from skills.packs import CONFIG_FILE, SKILL_FILE, domain_tool_names, pack_read


class _IndentedDumper(yaml.SafeDumper):
    """Indents lists under their key (`examples:` then `  - ask:`), as the packs are written."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def known_domains() -> list[str]:
    """Domains that ship a toolset: the ones a skill can be written for."""
    package = importlib.import_module("domains")
    names = [module.name for module in pkgutil.iter_modules(package.__path__) if module.ispkg]
    return sorted(name for name in names if domain_tool_names(name) is not None)


def _entry(spec: SkillSpec) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": spec.name,
        "path": f"skills/{spec.name}/{SKILL_FILE}",
        "requires_context": list(spec.requires_context),
    }
    if spec.model:
        entry["model"] = spec.model
    entry["tools"] = list(spec.tools)
    if spec.confirm:
        entry["confirm"] = list(spec.confirm)
    if spec.roles:
        entry["roles"] = [str(role) for role in spec.roles]
    if spec.limits:
        entry["limits"] = spec.limits.model_dump(exclude_none=True)
    if spec.timeout_seconds:
        entry["timeout_seconds"] = spec.timeout_seconds
    if spec.eval_as:
        entry["eval_as"] = spec.eval_as
    entry["examples"] = [
        example.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
        for example in spec.examples
    ]
    return entry


def _skill_markdown(spec: SkillSpec) -> str:
    front = {"name": spec.name, "description": spec.description, "metadata": {"domain": spec.domain}}
    head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)
    body = spec.instruction.strip()
    if not body.startswith("# "):
        body = f"# {spec.title}\n\n{body}"
    return f"---\n{head}---\n{body}\n"


def _trimmed_end(lines: list[str], start: int, end: int) -> int:
    """`end` moved back over blank and comment lines: they belong to what follows."""
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def config_with_entry(text: str, entry: dict[str, Any]) -> str:
    """`text` (an aspora.config.yaml) with `entry` replacing the skill of the same name, or appended."""
    root = yaml.compose(text)
    skills = None
    if isinstance(root, yaml.MappingNode):
        skills = next((value for key, value in root.value if getattr(key, "value", None) == "skills"), None)
    if not (isinstance(skills, yaml.SequenceNode) and skills.value and not skills.flow_style):
        # No block list of skills to edit in place: write the file anew.
        data = yaml.safe_load(text) or {}
        data["skills"] = [s for s in data.get("skills") or [] if s.get("name") != entry["name"]] + [entry]
        return yaml.dump(data, Dumper=_IndentedDumper, sort_keys=False, default_flow_style=None, allow_unicode=True)

    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    items = skills.value
    dash = " " * max(items[0].start_mark.column - 2, 0)
    rendered = yaml.dump(
        [entry], Dumper=_IndentedDumper, sort_keys=False, default_flow_style=None, allow_unicode=True, width=110
    )
    block = [dash + line if line.strip() else line for line in rendered.splitlines(keepends=True)]

    def span(index: int) -> tuple[int, int]:
        start = items[index].start_mark.line
        end = items[index + 1].start_mark.line if index + 1 < len(items) else min(skills.end_mark.line, len(lines))
        if end == start:  # the list ends on the same line as its last item (no trailing newline)
            end = start + 1
        return start, _trimmed_end(lines, start, end)

    names = [next((v.value for k, v in item.value if k.value == "name"), None) for item in items]
    if entry["name"] in names:
        start, end = span(names.index(entry["name"]))
        lines[start:end] = block
    else:
        _, end = span(len(items) - 1)
        lines[end:end] = ["\n", *block]
    return "".join(lines)


def _validate(worktree: Path, domain: str) -> list[str]:
    """Problems `skills.packs` finds in the pack; it needs the folder to carry the domain's name."""
    if worktree.name == domain:
        return [str(problem) for problem in pack_read(worktree).problems]
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / domain
        shutil.copytree(worktree, copy, ignore=shutil.ignore_patterns(".git"))
        return [str(problem).replace(str(copy), str(worktree)) for problem in pack_read(copy).problems]


def skill_generate(spec: SkillSpec, *, worktree: Path) -> Generation:
    """Write the skill into the pack at `worktree`; `SpecIncomplete` names an unknown domain or tool."""
    offered = domain_tool_names(spec.domain)
    if offered is None:
        raise SpecIncomplete(
            [f"The domain {spec.domain!r} does not exist: the known domains are {', '.join(known_domains())}."]
        )
    missing = [
        f"The tool {tool!r} is not in the {spec.domain} toolset, which offers {', '.join(sorted(offered))}."
        for tool in spec.tools
        if tool not in offered
    ]
    config_path = worktree / CONFIG_FILE
    if not config_path.is_file():
        missing.append(f"The worktree has no {CONFIG_FILE}: it must be a copy of the {spec.domain} domain pack.")
    else:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        pack_domain = (config.get("domain") or {}).get("name")
        updating = spec.name in [skill.get("name") for skill in config.get("skills") or []]
        if pack_domain != spec.domain:
            missing.append(f"The spec names the domain {spec.domain!r} but the worktree is the {pack_domain!r} pack.")
    if missing:
        raise SpecIncomplete(missing)

    skill_path = worktree / "skills" / spec.name / SKILL_FILE
    before = {path: path.read_text(encoding="utf-8") if path.is_file() else None for path in (config_path, skill_path)}
    skill_path.parent.mkdir(parents=True, exist_ok=True)
    skill_path.write_text(_skill_markdown(spec), encoding="utf-8")
    config_path.write_text(config_with_entry(before[config_path], _entry(spec)), encoding="utf-8")

    problems = _validate(worktree, spec.domain)
    if problems:
        for path, text in before.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text, encoding="utf-8")
        raise SpecIncomplete([f"The generated skill does not validate: {problem}." for problem in problems])

    verb = "Updated" if updating else "Added"
    summary = (
        f"{verb} the skill {spec.name} in the {spec.domain} pack: tools {', '.join(spec.tools)}, "
        f"{len(spec.examples)} eval example{'s' if len(spec.examples) != 1 else ''}."
    )
    return Generation(files=[str(skill_path.relative_to(worktree)), CONFIG_FILE], summary=summary)
