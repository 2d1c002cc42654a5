"""Log lines that name their order, as text or as JSON lines (ORDERS_LOG_FORMAT=json).

The SDK's workflow and activity loggers put the workflow id on each record
(`temporal_workflow`, `temporal_activity`); the workflow adds its correlation id and the
event version; activities learn the correlation id from their workflow (context.py).
`OrderContext` gathers these into three fields every formatter can use: order_id,
correlation_id, event_version.
"""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from temporalio import activity, workflow

from contract import order_id_of
from observability.context import correlation_of, current_correlation_id, remember

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("INFO", "DEBUG", "WARNING", "ERROR")
ORDER_FIELDS = ("order_id", "correlation_id", "event_version", "activity", "attempt")
_TEXT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s%(order_fields)s"


class OrderContext(logging.Filter):
    """Gives every record order_id, correlation_id and event_version (None where unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        temporal = getattr(record, "temporal_workflow", None) or getattr(record, "temporal_activity", None) or {}
        if getattr(record, "order_id", None) is None:
            workflow_id = temporal.get("workflow_id")
            record.order_id = order_id_of(workflow_id) if isinstance(workflow_id, str) else None
        run_id = temporal.get("workflow_run_id") or temporal.get("run_id")
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id is not None and isinstance(run_id, str):
            remember(run_id, correlation_id)
        elif "activity_id" in temporal:
            record.correlation_id = current_correlation_id.get() or (correlation_of(run_id) if run_id else None)
        elif isinstance(run_id, str):
            record.correlation_id = correlation_of(run_id)
        else:
            record.correlation_id = None
        if not hasattr(record, "event_version"):
            record.event_version = None
        record.activity = temporal.get("activity_type")
        record.attempt = temporal.get("attempt") if temporal.get("attempt", 1) != 1 else None
        present = [f"{name}={getattr(record, name)}" for name in ORDER_FIELDS if getattr(record, name) is not None]
        record.order_fields = f" [{' '.join(present)}]" if present else ""
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the order's fields, and the
    workflow or activity the SDK names."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in ORDER_FIELDS:
            if (value := getattr(record, name, None)) is not None:
                line[name] = value
        for key in ("temporal_workflow", "temporal_activity"):
            if (value := getattr(record, key, None)) is not None:
                line[key.removeprefix("temporal_")] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(log_format: str = "text", level: int | str = logging.INFO, stream: TextIO | None = None) -> None:
    """The root handler of an entry point: `log_format` "text" or "json"."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(OrderContext())
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    # The SDK would append its details to each message as a dict; they are fields here.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    logging.basicConfig(level=level, handlers=[handler], force=True)
