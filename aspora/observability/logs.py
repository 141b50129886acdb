"""Log records that carry the active span's trace and span ids, and a JSON formatter for them.

`TraceContextFilter` sits on the console handler, so every record passing it (Django's, Celery's,
a library's) gets `trace_id`/`span_id` while a span is active. `JsonFormatter` writes one JSON
object per line: what a log pipeline indexes and what links a log line to its trace.
"""

import logging

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

FORMATS = ("json", "text")


class TraceContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
            record.span_id = format(span_context.span_id, "016x")
        else:
            record.trace_id = record.span_id = ""
        return True


class JsonFormatter(_JsonFormatter):
    """`{"timestamp", "level", "logger", "message", "trace_id", "span_id", ...}`, one per line;
    anything passed in `extra=` is added, and the trace fields are left out outside a span."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("timestamp", True)
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(self, log_data, record, message_dict) -> None:
        super().add_fields(log_data, record, message_dict)
        for key in ("trace_id", "span_id"):
            if not log_data.get(key):
                log_data.pop(key, None)
