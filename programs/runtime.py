"""The SDK's runtime for this process: where its Rust core logs go, and where its
metrics are served.

By default the core prints its own log lines to stdout, where they would break the
`--json` output of `orders` and interleave with the starter's report. Entry points call
`forward_core_logs` first, so those lines go through Python logging like everything else.
A worker that exports metrics passes `metrics_at`: the core then serves its own
`temporal_` metrics and those made through its meter (contract.metrics) in Prometheus'
text format there.
"""

import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

CORE_LOGGER = "temporalio.core"


_made_for: str | None = None  # the metrics address of the runtime this process made, once it made one


def forward_core_logs(level: int = logging.WARNING, metrics_at: str | None = None) -> None:
    """Make the process's runtime, once: a program run again in the same process (as tests
    run commands) keeps the runtime it made, with its threads, unless it serves metrics elsewhere."""
    global _made_for
    logging.getLogger(CORE_LOGGER).setLevel(level)
    if _made_for is not None and _made_for == (metrics_at or ""):
        return
    _made_for = metrics_at or ""
    runtime = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
            ),
            metrics=PrometheusConfig(bind_address=metrics_at) if metrics_at else None,
        )
    )
    Runtime.set_default(runtime, error_if_already_set=False)
