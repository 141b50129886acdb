"""PII never reaches a log line: the handlers configured by settings.LOGGING redact the message,
its arguments, the exception text and `extra=` fields, in the text and in the JSON format."""

import io
import json
import logging
from contextlib import contextmanager

from django.conf import settings

from aspora.redaction import RedactingFilter
from tests.processes import django_script_run

IBAN, CARD = "GB82 WEST 1234 5698 7654 32", "4242 4242 4242 4242"
EMAIL, PHONE = "rahul.sharma@gmail.com", "+971 50 123 4567"
# Every way the raw values could show: spaced, compact, the local part, the subscriber number.
RAW = [IBAN, "GB82WEST12345698765432", CARD, "4242424242424242", EMAIL, "rahul.sharma", PHONE, "50 123 4567"]
DECLINED = "ValueError: card [CARD •••• 4242] declined for [EMAIL r•••@gmail.com], call [PHONE •••• 4567]"


LOG_PII = "from tests.governance.test_log_redaction import log_pii; log_pii()"


def log_pii():
    """What a careless caller logs: PII in the format arguments, in extra fields and in an exception."""
    log = logging.getLogger("aspora.refunds")
    log.info("refund to %s for %s", IBAN, EMAIL, extra={"customer": {"phone": PHONE}, "card": CARD})
    try:
        raise ValueError(f"card {CARD} declined for {EMAIL}, call {PHONE}")
    except ValueError:
        log.exception(f"refund to {IBAN} failed")


@contextmanager
def console_output():
    """What the configured console handler (its own filters) writes meanwhile, in the text format;
    the JSON format, production's default, has its own test below. The stream is swapped without
    `setStream`, which flushes the old one: under pytest that may be a capture already closed."""
    console = next(h for h in logging.root.handlers if h.name == "console")
    stream = io.StringIO()
    plain = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"])
    with console.lock:
        previous, console.stream = console.stream, stream
        formatter, console.formatter = console.formatter, plain
    try:
        yield stream
    finally:
        with console.lock:
            console.stream, console.formatter = previous, formatter


def test_every_configured_handler_redacts():
    # Named handlers are the ones logging configuration made (settings.LOGGING, Django's defaults);
    # pytest's capture handlers are unnamed.
    loggers = [logging.root, *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    handlers = {h for lg in loggers for h in lg.handlers if h.name}

    assert "console" in {h.name for h in handlers}
    assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in handlers)


def test_the_console_handler_writes_no_pii():
    with console_output() as stream:
        log_pii()

    output = stream.getvalue()
    assert "INFO aspora.refunds refund to [IBAN GB •••• 5432] for [EMAIL r•••@gmail.com]\n" in output
    assert DECLINED in output
    assert "ERROR aspora.refunds refund to [IBAN GB •••• 5432] failed" in output
    assert [raw for raw in RAW if raw in output] == []


def test_json_log_lines_carry_no_pii_in_message_exception_or_extra_fields():
    """The production format, from a process configured by the real settings."""
    result = django_script_run("import django; django.setup(); " + LOG_PII, env={"ASPORA_LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr

    lines = [json.loads(line) for line in result.stderr.splitlines()]
    info, error = (line for line in lines if line["logger"] == "aspora.refunds")
    assert info["message"] == "refund to [IBAN GB •••• 5432] for [EMAIL r•••@gmail.com]"
    assert info["customer"] == {"phone": "[PHONE •••• 4567]"} and info["card"] == "[CARD •••• 4242]"
    assert error["message"] == "refund to [IBAN GB •••• 5432] failed"
    assert error["exc_info"].endswith(DECLINED)
    assert [raw for raw in RAW if raw in result.stderr] == []


def test_a_clean_record_is_left_as_it_was():
    record = logging.makeLogRecord({"msg": "run %s finished in %s ms", "args": ("abc", "12"), "extra_field": "x"})

    assert RedactingFilter().filter(record) is True
    assert (record.msg, record.args, record.extra_field) == ("run %s finished in %s ms", ("abc", "12"), "x")


def test_a_malformed_call_is_logged_redacted_instead_of_raising():
    with console_output() as stream:
        logging.getLogger("aspora.refunds").warning("refund to %s for %s", IBAN)  # one argument short

    assert "WARNING aspora.refunds refund to %s for %s ('[IBAN GB •••• 5432]',)" in stream.getvalue()
