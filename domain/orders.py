"""What a client sends to place an order.

Money is `Decimal`: an order total is an exact amount, and binary floats cannot
represent 0.10. It travels as a JSON string ("150.50") so no client rounds it;
plain JSON numbers are accepted on input and read exactly.

The model is strict about structure (a missing field or a wrong type is refused
with the field named) and lenient about what the business rules judge: zero or
negative quantities and prices, or a total that does not add up, pass here and
become validation errors in the order's event stream.
"""

from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Money = Annotated[Decimal, Field(allow_inf_nan=False)]

# Orders placed without a currency, and every line recorded before lines had one
# (OrderReceived schema v1), are in US dollars.
DEFAULT_CURRENCY = "USD"

DEFAULT_APPROVAL_TIMEOUT = timedelta(hours=48)


class OrderItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: str = Field(min_length=1)
    quantity: int
    unit_price: Money
    currency: str = Field(default=DEFAULT_CURRENCY, pattern=r"^[A-Z]{3}$", description="ISO 4217 code")


class OrderInput(BaseModel):
    """The input of one `OrderWorkflow`; new fields must have defaults so old histories still decode."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str = Field(min_length=1, pattern=r"^\S+$")
    customer_id: str = Field(min_length=1)
    total_amount: Money
    items: tuple[OrderItem, ...]
    correlation_id: str | None = Field(
        default=None,
        min_length=1,
        description="The caller's id for tracing across systems; defaults to the id of the start command.",
    )
    # Durations as pydantic reads them: seconds (3600) or ISO 8601 ("PT1H").
    approval_timeout: timedelta = Field(
        default=DEFAULT_APPROVAL_TIMEOUT,
        gt=timedelta(0),
        description="How long a payment above the approval threshold waits for a decision before the order cancels itself.",
    )
    cancellation_window: timedelta = Field(
        default=timedelta(0),
        ge=timedelta(0),
        description="How long the order waits at InventoryReserved, cancellable, before fulfilment starts.",
    )


def describe_validation_error(error: ValidationError) -> str:
    """One line naming every offending field, e.g. `items.0.quantity: Input should be a valid integer`."""
    problems = []
    for detail in error.errors(include_url=False):
        field = ".".join(str(part) for part in detail["loc"]) or "(the whole order)"
        problems.append(f"{field}: {detail['msg']}")
    return "; ".join(problems)
