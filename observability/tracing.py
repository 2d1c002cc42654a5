"""Traces through the SDK's own tracing interceptor, exported over OTLP when the standard
OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, off otherwise.

The interceptor, on the client, spans every start, update and query it sends; on the
worker (which takes its client's interceptors), the workflow's run, each activity it
schedules and each activity run, all carried in headers: one order, one trace.
`OrderSpanAttributes` names the order on every span: `order.id` from the workflow id,
`order.correlation_id` from the W3C baggage a client may send, else the run id, as the
workflow itself defaults it.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from contract import order_id_of

ORDER_ID = "order.id"
CORRELATION_ID = "order.correlation_id"
_BAGGAGE_CORRELATION = "order.correlation_id"

_provider: TracerProvider | None = None


class OrderSpanAttributes(SpanProcessor):
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = span.attributes or {}
        workflow_id = attributes.get("temporalWorkflowID")
        if isinstance(workflow_id, str) and (order_id := order_id_of(workflow_id)) is not None:
            span.set_attribute(ORDER_ID, order_id)
        correlation_id = baggage.get_baggage(_BAGGAGE_CORRELATION, parent_context) or attributes.get("temporalRunID")
        if isinstance(correlation_id, str):
            span.set_attribute(CORRELATION_ID, correlation_id)

    def on_end(self, span: ReadableSpan) -> None:
        pass


@contextmanager
def correlated(correlation_id: str | None) -> Iterator[None]:
    """Calls made inside carry `correlation_id` as W3C baggage (when traced): the spans of
    the order they start name it, in every process the trace reaches."""
    if correlation_id is None or _provider is None:
        yield
        return
    token = otel_context.attach(baggage.set_baggage(_BAGGAGE_CORRELATION, correlation_id))
    try:
        yield
    finally:
        otel_context.detach(token)


def start_tracing(service_name: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Make spans and send them to `exporter` (OTLP over HTTP, configured by the standard
    OTEL_ variables, by default). Called once by an entry point."""
    global _provider
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(OrderSpanAttributes())
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _provider = provider
    return provider


def tracing_interceptors() -> Sequence[Interceptor]:
    """The client interceptors that trace, when tracing was started; none otherwise."""
    if _provider is None:
        return ()
    return (TracingInterceptor(_provider.get_tracer("orders")),)


def stop_tracing() -> None:
    """Send what is buffered; an entry point calls it before it exits."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None
