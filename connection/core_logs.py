"""Where the SDK's Rust core logs go.

By default the core prints its own log lines to stdout, where they would break the
`--json` output of `orders` and interleave with the starter's report. Entry points call
`forward_core_logs` first, so those lines go through Python logging like everything else.
"""

import logging

from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

CORE_LOGGER = "temporalio.core"


def forward_core_logs(level: int = logging.WARNING) -> None:
    logging.getLogger(CORE_LOGGER).setLevel(level)
    runtime = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
            )
        )
    )
    Runtime.set_default(runtime, error_if_already_set=False)
