"""Small builders for test data; nothing here talks to a server."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain import EventEnvelope, OrderItem, OrderReceived

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def envelope(event, version: int, *, stream_id: str | None = None, causation_id: str = "cause") -> EventEnvelope:
    return EventEnvelope(
        event_id=uuid.uuid4(),
        stream_id=stream_id or event.order_id,
        event_type=type(event).__name__,
        version=version,
        schema_version=event.SCHEMA_VERSION,
        correlation_id="corr",
        causation_id=causation_id,
        created_by="test",
        created_at=T0 + timedelta(seconds=version),
        data=event,
    )


def received(order_id: str = "ORDER-1", total: str = "150.50") -> OrderReceived:
    return OrderReceived(
        order_id=order_id,
        customer_id="CUSTOMER-1",
        items=(OrderItem(product_id="PROD-1", quantity=2, unit_price=Decimal(total) / 2),),
        total_amount=Decimal(total),
    )
