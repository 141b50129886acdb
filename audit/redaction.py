"""Masking of what the audit stores: tool arguments and admin snapshots.

The governance lane builds `aspora/redaction.py` (PII redaction for models, logs, traces and the
audit). Until it exists, or when it offers no `redact_value(obj)`, this module's own masks apply:
digit runs of 8 or more (account and card numbers, with or without spaces and dashes), emails and
IBAN-like strings. When `aspora.redaction.redact_value` is there it is used instead.
"""

import importlib
import re
from typing import Any

IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# Eight or more digits, allowing single spaces or dashes between groups (4111 1111 1111 1111).
DIGITS = re.compile(r"(?<![\w])\d(?:[ -]?\d){7,}(?![\w])")


def _mask_digits(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"[number …{digits[-4:]}]"


def _fallback_redact(text: str) -> str:
    text = IBAN.sub("[iban]", text)
    text = EMAIL.sub("[email]", text)
    return DIGITS.sub(_mask_digits, text)


def _fallback_value(value: Any) -> Any:
    if isinstance(value, str):
        return _fallback_redact(value)
    if isinstance(value, dict):
        return {str(key): _fallback_value(val) for key, val in value.items()}
    if isinstance(value, list | tuple):
        return [_fallback_value(val) for val in value]
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 8:
        return _fallback_redact(str(value))
    return value


def audit_redact(value: Any) -> Any:
    """The value with PII in every string masked; dicts and lists keep their shape, keys are kept."""
    try:
        shared = importlib.import_module("aspora.redaction")
    except ImportError:
        shared = None
    redact_value = getattr(shared, "redact_value", None)
    return redact_value(value) if callable(redact_value) else _fallback_value(value)
