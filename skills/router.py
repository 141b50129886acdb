"""Free text → the skill the asker most likely means, among the skills they may run.

Deterministic word overlap with each skill's name, description and examples: cheap, explainable,
and the same on every front door. A message that matches nothing well enough is not guessed.
"""

import re

from skills.models import Skill

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {
    "a", "an", "the", "to", "of", "for", "me", "my", "i", "is", "are", "and", "or", "in", "on", "at", "with",
    "please", "can", "you", "show", "what", "which", "it", "this", "that", "use", "when", "asks", "their", "be",
    "from", "by", "one", "all", "s", "do", "how", "x", "y",
}  # fmt: skip
MIN_SCORE = 1.0


def words(text: str) -> set[str]:
    found = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP or word.isdigit():
            continue
        found.add(word)
        if len(word) > 4 and word.endswith("s"):
            found.add(word[:-1])  # tickets → ticket
    return found


def skill_score(*, skill: Skill, message: str) -> float:
    asked = words(message)
    version = skill.current_version
    name_words = words(skill.name.replace("-", " "))
    example_words = (
        set().union(*(words(example) for example in version.config.get("examples", []))) if version else set()
    )
    description_words = words(version.description) if version else set()
    return 3 * len(asked & name_words) + 1.5 * len(asked & example_words) + 0.5 * len(asked & description_words)


def skill_route(*, skills: list[Skill], message: str) -> Skill | None:
    scored = sorted(((skill_score(skill=s, message=message), s.name, s) for s in skills), key=lambda t: (-t[0], t[1]))
    if not scored or scored[0][0] < MIN_SCORE:
        return None
    return scored[0][2]
