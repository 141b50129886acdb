"""PII redaction: what leaves Aspora for a model provider, a log, a trace or the audit trail.

Each kind is replaced by a typed placeholder that keeps what an analyst needs to tell records
apart (the last four digits, an IBAN's country, an email's domain): `[CARD •••• 4242]`,
`[IBAN AE •••• 3456]`, `[ACCOUNT •••• 7890]`, `[PHONE •••• 4567]`, `[EMAIL r•••@gmail.com]`,
`[PASSPORT •••• 4567]`. Card numbers must pass Luhn and IBANs their mod-97 checksum, so ticket
numbers, amounts, dates and reference ids are left alone; account and passport numbers need the
word that introduces them ("account no", "a/c", "passport"), except account numbers of 11-18 bare
digits that are not a valid card.

`redact(text, kinds)` for a string, `redact_value(obj, kinds)` for JSON-like data (tool results,
audit arguments). No app imports: logging, tracing and audit code can call it from anywhere.
"""

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal, get_args

RedactionKind = Literal["iban", "card", "email", "phone", "passport", "account"]
ALL_KINDS: tuple[str, ...] = get_args(RedactionKind)
DOTS = "••••"
_ALL_KINDS = frozenset(ALL_KINDS)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in _digits(number)]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    compact = re.sub(r"\s", "", iban).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


# --- the kinds, in the order they are applied (most specific first) ------------------------

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
_CARD = re.compile(r"(?<![\w+])(?:\d[ -]?){12,18}\d(?![\w])")
_EMAIL = re.compile(r"(?<![\w.+-])([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b")
_PHONES = [
    # International (E.164, with the usual separators): +971 50 123 4567, +91-98765-43210, +447911123456.
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,5}(?![\w])"),
    # Indian mobile: 98765 43210, 09876543210.
    re.compile(r"(?<![\w+])0?[6-9]\d{4}[ -]?\d{5}(?![\w])"),
    # UAE mobile and landline: 050 123 4567, 04 123 4567, 0501234567.
    re.compile(r"(?<![\w+])0(?:5\d|[234679])[ -]?\d{3}[ -]?\d{4}(?![\w])"),
]
_PASSPORT = re.compile(
    r"(?i)(\bpassport(?:\s+(?:no\.?|number|#))?\s*[:#]?\s*)((?=[A-Z0-9]*\d)[A-Z0-9]{6,9})\b",
)
_ACCOUNT_CONTEXT = re.compile(
    r"(?i)(\b(?:account|acct|a/c|acc)(?:\s*(?:no\.?|number|#))?\s*[:#]?\s*)(\d(?:[ -]?\d){5,17})(?![\w])"
)
_ACCOUNT_BARE = re.compile(r"(?<![\w#.,+-])\d{11,18}(?![\w.,])")


def _last4(text: str) -> str:
    return _digits(text)[-4:] if _digits(text) else text[-4:]


def _iban(match: re.Match) -> str:
    candidate = match.group(0)
    if iban_valid(candidate):
        return f"[IBAN {candidate[:2]} {DOTS} {candidate.replace(' ', '')[-4:]}]"
    # A trailing short word ("… 456 FOR") may have been swallowed: try without it.
    head, _, tail = candidate.rpartition(" ")
    if head and iban_valid(head):
        return f"[IBAN {head[:2]} {DOTS} {head.replace(' ', '')[-4:]}] {tail}"
    return candidate


def _card(match: re.Match) -> str:
    text = match.group(0)
    return f"[CARD {DOTS} {_last4(text)}]" if luhn_valid(text) else text


def _email(match: re.Match) -> str:
    return f"[EMAIL {match.group(1)[0]}•••@{match.group(2)}]"


def _phone(match: re.Match) -> str:
    text = match.group(0)
    if not 8 <= len(_digits(text)) <= 15:
        return text
    return f"[PHONE {DOTS} {_last4(text)}]"


def _passport(match: re.Match) -> str:
    return f"{match.group(1)}[PASSPORT {DOTS} {match.group(2)[-4:]}]"


def _account_context(match: re.Match) -> str:
    return f"{match.group(1)}[ACCOUNT {DOTS} {_last4(match.group(2))}]"


def _account_bare(match: re.Match) -> str:
    return f"[ACCOUNT {DOTS} {match.group(0)[-4:]}]"


# Every kind needs a digit or an "@": a text with neither (most log lines) skips the patterns.
_MAY_HOLD_PII = re.compile(r"[\d@]")

_RULES: list[tuple[str, re.Pattern, Callable[[re.Match], str]]] = [
    ("iban", _IBAN, _iban),
    ("card", _CARD, _card),
    ("email", _EMAIL, _email),
    ("passport", _PASSPORT, _passport),
    ("account", _ACCOUNT_CONTEXT, _account_context),
    *[("phone", pattern, _phone) for pattern in _PHONES],
    ("account", _ACCOUNT_BARE, _account_bare),
]


def kinds_check(kinds: Iterable[str]) -> tuple[str, ...]:
    """The kinds, validated: an unknown one is an error naming it and the known ones."""
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in ALL_KINDS]
    if unknown:
        raise ValueError(f"Unknown redaction kind(s) {', '.join(map(repr, unknown))}; known: {', '.join(ALL_KINDS)}.")
    return kinds


def redact(text: str, kinds: Iterable[str] | None = None) -> str:
    """`text` with every PII value of `kinds` (all of them by default) replaced by its placeholder."""
    if not text or not isinstance(text, str) or not _MAY_HOLD_PII.search(text):
        return text
    wanted = _ALL_KINDS if kinds is None else set(kinds_check(kinds))
    for kind, pattern, replace in _RULES:
        if kind in wanted:
            text = pattern.sub(replace, text)
    return text


def redact_value(value: Any, kinds: Iterable[str] | None = None) -> Any:
    """JSON-like data (dicts, lists, strings) with every string redacted; keys and other types kept."""
    kinds = tuple(ALL_KINDS if kinds is None else kinds_check(kinds))
    if isinstance(value, str):
        return redact(value, kinds)
    if isinstance(value, dict):
        return {key: redact_value(item, kinds) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item, kinds) for item in value]
    return value


# What every LogRecord has; anything else on a record came in through `extra=` and is logged too.
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "trace_id", "span_id"}
_EXCEPTION_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Redacts every PII kind from what a handler writes: the message (its arguments merged in),
    the exception and stack text, and `extra=` fields. It is on every handler in `LOGGING`
    (docs/security.md); it runs on every record, so clean text costs one regex search.

    The record is changed in place: a redacted message replaces `msg` (args cleared), and an
    exception is formatted here, redacted into `exc_text`, with `exc_info` cleared so no formatter
    renders the original again."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict) and not record.args:
            record.msg = redact_value(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - arguments that do not fit the format: kept, redacted, not raised
                message = record.msg = f"{record.msg} {record.args!r}"
                record.args = None
            redacted = redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        if record.exc_info:
            record.exc_text = redact(record.exc_text or _EXCEPTION_FORMATTER.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and value is not None:
                record.__dict__[key] = _redact_extra(value)
        return True


def _redact_extra(value: Any) -> Any:
    if isinstance(value, (str, dict, list, tuple)):
        return redact_value(value)
    if isinstance(value, (int, float, bool)):
        return value
    # Anything else reaches a JSON log as its str(): redact that if it holds PII.
    text = str(value)
    redacted = redact(text)
    return value if redacted == text else redacted
