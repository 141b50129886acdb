"""Logs as configured by settings: JSON lines with the trace id when asked, plain lines for a console."""

import json
import subprocess

from tests.processes import django_script_run

SCRIPT = """
import logging
import django
django.setup()
from aspora.observability.tracing import tracer
log = logging.getLogger("aspora.test")
log.warning("outside any span")
with tracer.start_as_current_span("work") as span:
    context = span.get_span_context()
    print(format(context.trace_id, "032x"), format(context.span_id, "016x"), flush=True)
    log.warning("inside run %s", "r-42", extra={"run_id": "r-42"})
"""


def _run(**env) -> subprocess.CompletedProcess:
    return django_script_run(SCRIPT, env=env, drop=("ASPORA_LOG", "OTEL_"))


def test_json_logs_carry_the_active_trace_and_span_ids():
    result = _run(ASPORA_LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    trace_id, span_id = result.stdout.split()
    outside, inside = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")][-2:]

    assert outside["message"] == "outside any span" and "trace_id" not in outside
    assert inside["message"] == "inside run r-42"
    assert (inside["trace_id"], inside["span_id"]) == (trace_id, span_id)
    assert (inside["level"], inside["logger"], inside["run_id"]) == ("WARNING", "aspora.test", "r-42")
    assert inside["timestamp"].endswith("+00:00")


def test_plain_text_logs_for_a_console_and_a_clear_error_for_an_unknown_format():
    result = _run(ASPORA_LOG_FORMAT="text")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1].endswith("WARNING aspora.test inside run r-42")

    wrong = _run(ASPORA_LOG_FORMAT="xml")
    assert wrong.returncode != 0
    assert "ASPORA_LOG_FORMAT must be 'json' or 'text', not 'xml'" in wrong.stderr
