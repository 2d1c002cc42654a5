"""The six domain events of an order and the envelope each one travels in.

Events are named in the past tense and immutable. Their fields are the tutorial's.
Every event type carries a `SCHEMA_VERSION`; the envelope records it so that a
reader can upcast an event written under an older schema before folding it.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, get_args
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.orders import Money, OrderItem
from domain.personal import PersonalData
from domain.problems import ValidationProblem, problem_from_message


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ValidationResult(_Frozen):
    is_valid: bool
    errors: tuple[ValidationProblem, ...] = ()
    warnings: tuple[ValidationProblem, ...] = ()

    @field_validator("errors", "warnings", mode="before")
    @classmethod
    def _read_messages_recorded_before_codes(cls, problems: Any) -> Any:
        # validate_order's results in histories recorded before problems had codes are
        # lists of messages; replaying those histories decodes them with this model.
        if isinstance(problems, list | tuple):
            return [problem_from_message(p) if isinstance(p, str) else p for p in problems]
        return problems


class PaymentStatus(StrEnum):
    PENDING = "Pending"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class InventoryReservation(_Frozen):
    product_id: str
    quantity: int
    warehouse_id: str


class _Event(_Frozen):
    SCHEMA_VERSION: ClassVar[int] = 1

    order_id: str


class OrderReceived(_Event):
    SCHEMA_VERSION: ClassVar[int] = 3  # v2: a currency on each order line; v3: personal data, sealed

    customer_id: str
    items: tuple[OrderItem, ...]
    total_amount: Money
    personal: PersonalData | None = Field(default=None, exclude_if=lambda personal: personal is None)


class OrderValidated(_Event):
    SCHEMA_VERSION: ClassVar[int] = 2  # v2: each error and warning carries a code and subject

    validation_result: ValidationResult


class PaymentProcessed(_Event):
    payment_id: str
    amount: Money
    status: PaymentStatus


class InventoryReserved(_Event):
    reservations: tuple[InventoryReservation, ...]


class OrderFulfilled(_Event):
    fulfillment_id: str
    tracking_number: str | None = None


class OrderCancelled(_Event):
    reason: str
    refund_amount: Money | None = None


# The one list of event types.
DomainEvent = OrderReceived | OrderValidated | PaymentProcessed | InventoryReserved | OrderFulfilled | OrderCancelled
EVENT_TYPES: dict[str, type[_Event]] = {cls.__name__: cls for cls in get_args(DomainEvent)}


class EventEnvelope(_Frozen):
    """One recorded fact: the event plus where it sits in its stream and why it happened."""

    event_id: UUID
    stream_id: str = Field(description="The order id.")
    event_type: str
    version: int = Field(ge=1, description="Position in the stream: 1, 2, 3... without gaps.")
    schema_version: int = Field(ge=1)
    correlation_id: str = Field(description="Shared by every event of the order.")
    causation_id: str = Field(description="The id of the event or command that caused this one.")
    created_by: str = Field(description="The activity or handler that produced the event.")
    created_at: datetime
    data: DomainEvent

    @model_validator(mode="before")
    @classmethod
    def _read_data_as_its_event_type(cls, values: Any) -> Any:
        # The envelope's event_type says which model the data is; without this a
        # plain-JSON `data` would be matched against the union by shape alone.
        if isinstance(values, dict) and isinstance(values.get("data"), dict):
            event_type = values.get("event_type")
            event_class = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
            if event_class is None:
                raise ValueError(f"unknown event_type {event_type!r}; known: {', '.join(EVENT_TYPES)}")
            values = {**values, "data": event_class.model_validate(values["data"])}
        return values

    @model_validator(mode="after")
    def _event_type_names_the_data(self) -> "EventEnvelope":
        if type(self.data).__name__ != self.event_type:
            raise ValueError(f"event_type {self.event_type!r} does not match data of type {type(self.data).__name__}")
        # Only current-schema events are folded; older ones pass through domain.upcasting.
        if self.schema_version != self.data.SCHEMA_VERSION:
            raise ValueError(
                f"{self.event_type} schema_version {self.schema_version} is not the current "
                f"{self.data.SCHEMA_VERSION}: read it through domain.upcasting.upcast"
            )
        return self


class EnvelopeHeader(_Frozen):
    """An envelope waiting for its event: where the event the step is about to produce
    sits in its stream and why it happens. The step that produces the event seals it, so
    the step's result, which the history records anyway, is the whole envelope."""

    event_id: UUID
    stream_id: str
    version: int = Field(ge=1)
    correlation_id: str
    causation_id: str
    created_by: str

    def seal(self, event: DomainEvent, created_at: datetime) -> EventEnvelope:
        """The envelope of `event`, produced at `created_at`."""
        return EventEnvelope(
            **self.model_dump(),
            event_type=type(event).__name__,
            schema_version=event.SCHEMA_VERSION,
            created_at=created_at,
            data=event,
        )
