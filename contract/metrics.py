"""The domain metrics: their names, which the worker exports and the Grafana dashboard
(ops/grafana/orders-dashboard.json) reads, and what records them.

They are recorded through the SDK's metric meter, never a registry of our own: in
workflow code `workflow.metric_meter()` records nothing while a history is replayed, so
an order's events are counted once however often its history is replayed on a worker
(after a cache eviction, a restart, on another process). They reach Prometheus through
the same exporter as the SDK's own `temporal_` metrics.

Every count comes from a recorded event, so the metrics say what the streams say.
"""

from datetime import timedelta
from decimal import Decimal

from temporalio.common import MetricMeter

ORDERS_STARTED = "orders_started"
ORDERS_ENDED = "orders_ended"  # label outcome: the order's final status
DOMAIN_EVENTS = "orders_domain_events"  # label event_type
AMOUNT_CHARGED = "orders_amount_charged_cents"
AMOUNT_REFUNDED = "orders_amount_refunded_cents"
APPROVAL_WAIT = "orders_approval_wait"  # histogram, milliseconds (the SDK's durations)
COMPENSATIONS = "orders_compensations"  # label step: what was undone
DECISIONS_REFUSED = "orders_decisions_refused"  # labels decision, reason

DOMAIN_METRICS = (
    ORDERS_STARTED,
    ORDERS_ENDED,
    DOMAIN_EVENTS,
    AMOUNT_CHARGED,
    AMOUNT_REFUNDED,
    APPROVAL_WAIT,
    COMPENSATIONS,
    DECISIONS_REFUSED,
)


def _cents(amount: Decimal) -> int:
    # Counters count whole numbers; money is kept exact to the cent.
    return int((amount * 100).to_integral_value())


class OrderMetrics:
    """The domain metrics of one meter (a workflow's, replay-safe; or a process's)."""

    def __init__(self, meter: MetricMeter) -> None:
        self._started = meter.create_counter(ORDERS_STARTED, "Orders that began", "orders")
        self._ended = meter.create_counter(ORDERS_ENDED, "Orders that ended, by final status", "orders")
        self._events = meter.create_counter(DOMAIN_EVENTS, "Domain events recorded, by type", "events")
        self._charged = meter.create_counter(AMOUNT_CHARGED, "Money captured from customers", "cents")
        self._refunded = meter.create_counter(AMOUNT_REFUNDED, "Money given back to customers", "cents")
        self._approval_wait = meter.create_histogram_timedelta(
            APPROVAL_WAIT, "Time an order waited for a payment decision"
        )
        self._compensations = meter.create_counter(COMPENSATIONS, "Steps undone by compensation, by step", "steps")
        self._refused = meter.create_counter(
            DECISIONS_REFUSED, "Decisions refused before reaching history, by decision and reason", "decisions"
        )

    def started(self) -> None:
        self._started.add(1)

    def ended(self, outcome: str) -> None:
        self._ended.add(1, {"outcome": outcome})

    def recorded(self, event_type: str) -> None:
        self._events.add(1, {"event_type": event_type})

    def charged(self, amount: Decimal) -> None:
        self._charged.add(_cents(amount))

    def refunded(self, amount: Decimal) -> None:
        self._refunded.add(_cents(amount))

    def waited_for_approval(self, waited: timedelta) -> None:
        self._approval_wait.record(waited)

    def compensated(self, step: str) -> None:
        self._compensations.add(1, {"step": step})

    def refused(self, decision: str, reason: str) -> None:
        self._refused.add(1, {"decision": decision, "reason": reason})
