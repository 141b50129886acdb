"""Metrics, traces and structured logs: what operators watch Aspora with (docs/observability.md)."""
