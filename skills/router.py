"""Free text → the skill the asker most likely means, among the skills they may run.

Deterministic: the message is compared with each skill's examples (nearest example by word
overlap, numbers counting as one kind of word), its name and its description. Cheap, explainable,
the same on every front door; a message that matches nothing well enough is not guessed.
"""

import math
import re
from collections import Counter
from collections.abc import Callable

from skills.models import Skill
from skills.packs import example_texts

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {
    "a", "an", "the", "to", "of", "for", "me", "my", "i", "is", "are", "and", "or", "in", "on", "at", "with",
    "please", "can", "you", "show", "what", "which", "it", "this", "that", "use", "when", "asks", "their", "be",
    "from", "by", "one", "all", "s", "do", "how", "x", "y",
}  # fmt: skip
_ARTICLES = {"a", "an", "the", "please", "s"}
MIN_SCORE = 0.75


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


def words(text: str) -> set[str]:
    """Content words (stop words and numbers dropped), with plurals folded: tickets → ticket."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP or word.isdigit():
            continue
        found.add(word)
        found.add(_stem(word))
    return found


def _tokens(text: str) -> set[str]:
    """Every word but articles, numbers as `#`: 'show ticket 1042' ~ 'show ticket 7'."""
    return {"#" if w.isdigit() else _stem(w) for w in _WORD.findall(text.lower()) if w not in _ARTICLES}


def _similarity(a: set[str], b: set[str], weight: Callable[[str], float]) -> float:
    """Jaccard overlap where each word counts by how rare it is among the candidate skills."""
    union = sum(weight(t) for t in a | b)
    return sum(weight(t) for t in a & b) / union if union else 0.0


def _vocabulary(skill: Skill) -> list[set[str]]:
    version = skill.current_version
    examples = [_tokens(example) for example in example_texts(version.config)] if version else []
    return [*examples, _tokens(skill.name.replace("-", " "))]


def skill_score(*, skill: Skill, message: str, weight: Callable[[str], float] = lambda t: 1.0) -> float:
    version = skill.current_version
    if version is None:
        return 0.0
    asked, content = _tokens(message), words(message)
    nearest = max((_similarity(asked, example, weight) for example in _vocabulary(skill)[:-1]), default=0.0)
    name_hits = sum(weight(t) for t in asked & _vocabulary(skill)[-1] if t in content)
    description_hits = len(content & words(version.description))
    return 3 * nearest + 0.5 * name_hits + 0.15 * description_hits


def skill_route(*, skills: list[Skill], message: str) -> Skill | None:
    """The best-scoring skill, words weighted by rarity among `skills` (idf): 'ticket' says little
    when every ECM skill mentions tickets, 'escalate' says a lot."""
    vocabularies = [set().union(*_vocabulary(s)) for s in skills]
    counts = Counter(token for vocabulary in vocabularies for token in vocabulary)

    def weight(token: str) -> float:
        return 1.0 + math.log(len(skills) / counts[token]) if counts[token] else 1.0

    scored = sorted(
        ((skill_score(skill=s, message=message, weight=weight), s.name, s) for s in skills), key=lambda t: (-t[0], t[1])
    )
    if not scored or scored[0][0] < MIN_SCORE:
        return None
    return scored[0][2]
