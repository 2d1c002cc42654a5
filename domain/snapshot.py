"""A snapshot of an order: its state folded to a version, kept so a reader of a closed
order need not fold its events again (the tutorial's `OrderSnapshot`: order id, state,
last event version folded, when it was taken).

Besides the state it holds what the readers of a closed order take from its events: its
validation problems and when it was received (the read models, the summary), and what
its events say was done outside it (reconcile holds that against the ledger). Everything
in it is a fold of the order's events: `of(stream)` is the only way one is made, and one
that disagrees with its stream's fold is wrong (`differences`).

A snapshot is stored outside the stream, so its layout is versioned: `schema_version`
(the snapshot's fields) and `state_schema_version` (OrderState's). `read_snapshot` upcasts
a snapshot of an older layout to today's; one it cannot read as what it is (a newer
layout, or a state of another schema) is a SnapshotSchemaError, and the reader folds the
events instead. Never misread.
"""

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from domain.events import InventoryReservation, InventoryReserved, OrderCancelled, OrderFulfilled, PaymentProcessed
from domain.orders import Money, describe_validation_error
from domain.problems import ValidationProblem
from domain.state import STATE_SCHEMA_VERSION, OrderState
from domain.stream import OrderStream
from domain.summary import validation_problems

# The layout of OrderSnapshot. Raise it when a field is added, removed or changes meaning,
# and add the upcaster from the one before to _UPCASTERS (with a fixture of the old one
# under tests/histories/snapshots/).
SNAPSHOT_SCHEMA_VERSION = 1


class SnapshotSchemaError(ValueError):
    """A stored snapshot this code cannot read as what it is; the message says why."""


class RecordedEffects(BaseModel):
    """What an order's events say was done outside it: the payment its first
    PaymentProcessed names, the refunds its OrderCancelled events record, the stock its
    InventoryReserved events took, the shipment its first OrderFulfilled names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    payment_id: str | None = None
    payment_amount: Money | None = None
    refunded: Money = Decimal(0)
    reserved: tuple[InventoryReservation, ...] = ()
    fulfillment_id: str | None = None

    @staticmethod
    def of(stream: OrderStream) -> "RecordedEffects":
        events = [envelope.data for envelope in stream.envelopes]
        payment = next((event for event in events if isinstance(event, PaymentProcessed)), None)
        shipped = next((event for event in events if isinstance(event, OrderFulfilled)), None)
        return RecordedEffects(
            payment_id=payment.payment_id if payment else None,
            payment_amount=payment.amount if payment else None,
            refunded=sum(
                (event.refund_amount or Decimal(0) for event in events if isinstance(event, OrderCancelled)),
                Decimal(0),
            ),
            reserved=tuple(
                line for event in events if isinstance(event, InventoryReserved) for line in event.reservations
            ),
            fulfillment_id=shipped.fulfillment_id if shipped else None,
        )


class OrderSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SNAPSHOT_SCHEMA_VERSION
    state_schema_version: int = STATE_SCHEMA_VERSION
    order_id: str
    state: OrderState
    last_event_version: int
    created_at: AwareDatetime  # when the snapshot was taken
    received_at: AwareDatetime | None  # when the order's first event was recorded
    problems: tuple[ValidationProblem, ...]  # its validation problems, as its OrderValidated says
    effects: RecordedEffects

    @staticmethod
    def of(stream: OrderStream, taken_at: datetime) -> "OrderSnapshot":
        """The snapshot of `stream` folded to its last event, taken at `taken_at`."""
        return OrderSnapshot(
            order_id=stream.order_id,
            state=stream.state_at(),
            last_event_version=stream.version,
            created_at=taken_at,
            received_at=stream.envelopes[0].created_at if stream.envelopes else None,
            problems=validation_problems(stream),
            effects=RecordedEffects.of(stream),
        )

    def differences(self, stream: OrderStream) -> list[str]:
        """The fields in which this snapshot is not the fold of `stream` (none: it is)."""
        folded = OrderSnapshot.of(stream, self.created_at)
        return [name for name in OrderSnapshot.model_fields if getattr(self, name) != getattr(folded, name)]


def read_snapshot_json(data: bytes) -> OrderSnapshot:
    """`read_snapshot` of a stored snapshot's JSON: one of today's layout is validated
    straight from its JSON (the common case, and the fast one); any other goes through the
    upcasters."""
    try:
        snapshot = OrderSnapshot.model_validate_json(data)
    except ValidationError:
        snapshot = None
    if snapshot is not None and (snapshot.schema_version, snapshot.state_schema_version) == (
        SNAPSHOT_SCHEMA_VERSION,
        STATE_SCHEMA_VERSION,
    ):
        return snapshot
    try:
        raw = json.loads(data, parse_float=Decimal)
    except json.JSONDecodeError as err:
        raise SnapshotSchemaError(f"the snapshot is not JSON: {err}") from None
    return read_snapshot(raw)


# Each upcaster takes a snapshot of schema version N (as stored, a dict) to N + 1.
_UPCASTERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def _state_without_personal_data(raw: dict[str, Any]) -> dict[str, Any]:
    # A state of schema 1 was folded from events that carried no personal data: as v2's.
    return {**raw, "state_schema_version": 2}


# Each takes a snapshot whose state is of state schema version N to N + 1.
_STATE_UPCASTERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _state_without_personal_data}


def read_snapshot(raw: object) -> OrderSnapshot:
    """A stored snapshot as today's OrderSnapshot: upcast from an older layout; a
    SnapshotSchemaError for one of a layout or a state schema this code does not know."""
    if not isinstance(raw, dict):
        raise SnapshotSchemaError("a snapshot is a JSON object")
    version = raw.get("schema_version")
    while isinstance(version, int) and version in _UPCASTERS:
        raw = _UPCASTERS[version](raw)
        version = raw.get("schema_version")
    if version != SNAPSHOT_SCHEMA_VERSION:
        raise SnapshotSchemaError(
            f"snapshot schema version {version!r} is not one this code reads (it reads {SNAPSHOT_SCHEMA_VERSION}"
            " and upcasts the ones before): fold the order's events instead"
        )
    state_version = raw.get("state_schema_version")
    while isinstance(state_version, int) and state_version in _STATE_UPCASTERS:
        raw = _STATE_UPCASTERS[state_version](raw)
        state_version = raw.get("state_schema_version")
    if raw.get("state_schema_version") != STATE_SCHEMA_VERSION:
        raise SnapshotSchemaError(
            f"the snapshot holds a state of schema version {raw.get('state_schema_version')!r}, not"
            f" {STATE_SCHEMA_VERSION}: fold the order's events instead"
        )
    try:
        return OrderSnapshot.model_validate(raw)
    except ValidationError as err:
        raise SnapshotSchemaError(f"a malformed snapshot: {describe_validation_error(err)}") from None
