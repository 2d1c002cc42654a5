"""What a client sends to place an order.

Money is `Decimal`: an order total is an exact amount, and binary floats cannot
represent 0.10. It travels as a JSON string ("150.50") so no client rounds it;
plain JSON numbers are accepted on input and read exactly.

The model is strict about structure (a missing field or a wrong type is refused
with the field named) and lenient about what the business rules judge: zero or
negative quantities and prices, or a total that does not add up, pass here and
become validation errors in the order's event stream.

It is also strict about size. Every value of an order lands somewhere with a limit
of its own: the order id in a workflow id, the customer id in a search attribute
(2,048 bytes), ids in activity summaries and failure messages, the total in a
search attribute of type Double, every line in the history. An order that does
not fit is refused here, with the field named, by the starter and the workflow
alike, rather than failing later where nobody can act on it.
"""

from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from domain.personal import PersonalData

Money = Annotated[Decimal, Field(allow_inf_nan=False)]

# At most 4 bytes a character in UTF-8: 1,024 bytes, half a keyword search attribute.
MAX_ID_LENGTH = 256
MAX_ORDER_LINES = 1_000
MAX_QUANTITY = 1_000_000_000
# A trillion, to 30 significant digits: a float for the OrderTotal search attribute
# holds it, and no sum of lines overflows decimal arithmetic.
MAX_AMOUNT = Decimal("1000000000000")
MAX_AMOUNT_DIGITS = 30
# Longer than any approval or cancellation window a shop sets, and well within a timer.
MAX_WAIT = timedelta(days=366)


def _within_amount_limits(amount: Decimal) -> Decimal:
    if amount.copy_abs() > MAX_AMOUNT:  # copy_abs, unlike abs(), cannot overflow
        raise ValueError(f"must be between -{MAX_AMOUNT} and {MAX_AMOUNT}")
    _, digits, exponent = amount.as_tuple()
    # Written out in full, as a JSON string would carry it: 1E-40 is 41 digits long.
    written = max(len(digits), -exponent if isinstance(exponent, int) else 0)
    if written > MAX_AMOUNT_DIGITS:
        raise ValueError(f"must have at most {MAX_AMOUNT_DIGITS} digits")
    return amount


Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
Amount = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(_within_amount_limits)]

# Orders placed without a currency, and every line recorded before lines had one
# (OrderReceived schema v1), are in US dollars.
DEFAULT_CURRENCY = "USD"

DEFAULT_APPROVAL_TIMEOUT = timedelta(hours=48)


class OrderItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: Identifier
    quantity: int = Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)
    unit_price: Amount
    currency: str = Field(default=DEFAULT_CURRENCY, pattern=r"^[A-Z]{3}$", description="ISO 4217 code")


class OrderInput(BaseModel):
    """The input of one `OrderWorkflow`; new fields must have defaults so old histories still decode."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # No whitespace or control characters: it becomes the workflow id `order-<order_id>`.
    order_id: Identifier = Field(pattern=r"^[^\s\x00-\x1f\x7f]+$")
    customer_id: Identifier
    total_amount: Amount
    items: tuple[OrderItem, ...] = Field(max_length=MAX_ORDER_LINES)
    correlation_id: Identifier | None = Field(
        default=None,
        description="The caller's id for tracing across systems; defaults to the id of the start command.",
    )
    # Durations as pydantic reads them: seconds (3600) or ISO 8601 ("PT1H").
    approval_timeout: timedelta = Field(
        default=DEFAULT_APPROVAL_TIMEOUT,
        gt=timedelta(0),
        le=MAX_WAIT,
        description="How long a payment above the approval threshold waits for a decision before the order"
        " cancels itself.",
    )
    cancellation_window: timedelta = Field(
        default=timedelta(0),
        ge=timedelta(0),
        le=MAX_WAIT,
        description="How long the order waits at InventoryReserved, cancellable, before fulfillment starts.",
    )
    customer_ref: Identifier | None = Field(
        default=None,
        description="What the server may index and show in place of customer_id (a keyed hash the client"
        " computes, ORDERS_CUSTOMER_ID_KEY); None: the customer id itself.",
    )
    publish_total: bool = Field(
        default=True, description="Whether the total is published as the OrderTotal search attribute."
    )
    personal: PersonalData | None = Field(
        default=None,
        exclude_if=lambda personal: personal is None,
        description="The recipient's name, email and shipping address: in clear in an order file, sealed under"
        " the customer's key by the client before the order starts (docs/personal-data.md).",
    )

    @property
    def customer_shown(self) -> str:
        """The customer as search attributes and summaries name it."""
        return self.customer_ref or self.customer_id


# A failure message travels in the history and to every client; one built from
# hostile input must stay small whatever that input held.
_MAX_FIELD_PATH_PART = 64
_MAX_PROBLEMS_LISTED = 10


def shortened(text: str, limit: int = 64) -> str:
    """`text`, cut to `limit` characters with an ellipsis and the full length, for messages."""
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} characters)"


def describe_validation_error(error: ValidationError) -> str:
    """One line naming every offending field, e.g. `items.0.quantity: Input should be a valid integer`.

    Bounded: field names come from the input (an unknown key is named), so each part
    is shortened and at most ten problems are listed.
    """
    details = error.errors(include_url=False, include_input=False, include_context=False)
    problems = []
    for detail in details[:_MAX_PROBLEMS_LISTED]:
        field = ".".join(shortened(str(part), _MAX_FIELD_PATH_PART) for part in detail["loc"]) or "(the whole order)"
        problems.append(f"{field}: {detail['msg']}")
    if len(details) > _MAX_PROBLEMS_LISTED:
        problems.append(f"and {len(details) - _MAX_PROBLEMS_LISTED} more")
    return "; ".join(problems)
