"""How the system is watched: log lines that name their order, traces, the worker's
metrics and health endpoint. Nothing here decides anything about an order.

- logs: every line of the workflow and the activities carries the order id, the
  correlation id and, where there is one, the event version; text or JSON lines.
- context: hands the order's correlation id from the workflow to its activities
  (a header on each activity), for their log lines.
- tracing: OpenTelemetry through the SDK's tracing interceptor, exported over OTLP.
- endpoint: the worker's HTTP address: Prometheus metrics, /healthz, /readyz.
"""
