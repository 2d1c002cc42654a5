"""How the system is watched: log lines that name their order, traces, the worker's
metrics and health endpoint. Nothing here decides anything about an order.

- logs: every line of the workflow and the activities carries the order id, the
  correlation id and, where there is one, the event version; text or JSON lines.
- context: hands the order's correlation id from the workflow to its activities
  (a header on each activity), for their log lines.
- tracing: OpenTelemetry through the SDK's tracing interceptor, exported over OTLP.
- endpoint: the worker's HTTP address: Prometheus metrics, /healthz, /readyz.
"""

from typing import TYPE_CHECKING

from contract import loaded_when_asked

if TYPE_CHECKING:
    from observability.context import CorrelationToActivities
    from observability.endpoint import Health, serve
    from observability.logs import LOG_FORMATS, LOG_LEVELS, configure_logging
    from observability.tracing import correlated, start_tracing, stop_tracing, tracing_interceptors

# Each part loads when first used (PEP 562): the settings need only the log formats, and
# `orders --help` none of OpenTelemetry.
__getattr__ = loaded_when_asked(
    "observability",
    {
        "context": ("CorrelationToActivities",),
        "endpoint": ("Health", "serve"),
        "logs": ("LOG_FORMATS", "LOG_LEVELS", "configure_logging"),
        "tracing": ("correlated", "start_tracing", "stop_tracing", "tracing_interceptors"),
    },
)


__all__ = [
    "LOG_FORMATS", "LOG_LEVELS", "CorrelationToActivities", "Health", "configure_logging", "correlated", "serve",
    "start_tracing", "stop_tracing", "tracing_interceptors",
]  # fmt: skip
