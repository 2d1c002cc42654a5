"""Reading what clients send to an order: its input, decisions and query arguments.

OrderWorkflow takes every payload raw and decodes it here. A client in any language,
the `temporal` CLI or a hand-written JSON file can send anything; what cannot be read
must fail the order at once (or refuse the request) with the problem named. Left to
the SDK, a payload it cannot decode fails the workflow task instead, and Temporal
retries that task forever.

Runs inside workflow code: deterministic, no I/O.
"""

from typing import Any, TypeVar

import pydantic
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from contract import MALFORMED_INPUT, MALFORMED_ORDER_INPUT, workflow_id_for
from domain import OrderInput, describe_validation_error, shortened

# Stands in for a start or a request that carried no payload at all.
NO_INPUT = RawValue(Payload())

_JSON = b"json/plain"
_NULL = b"binary/null"
# Enough of a decoder's own message to say what was wrong, never the payload itself.
_MAX_DECODER_MESSAGE = 200

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


def malformed_order(problem: str) -> ApplicationError:
    return ApplicationError(f"Malformed order input: {problem}", type=MALFORMED_ORDER_INPUT, non_retryable=True)


class OneOrderPerStart(type):
    """Refuses a start that carries more than one payload.

    The SDK builds the workflow object with every payload the start carried, before any
    of our code runs. A start with two would fail right there with a TypeError, on every
    workflow task, for ever; the workflow fails with MalformedOrderInput instead.
    """

    def __call__(cls, *inputs: Any) -> Any:
        if len(inputs) > 1:
            raise malformed_order(f"expected one order, got {len(inputs)} arguments")
        return super().__call__(*inputs)


def read_order(order_input: RawValue) -> OrderInput:
    """The order a start carried, or MalformedOrderInput naming what is wrong with it."""
    if order_input is NO_INPUT or _encoding(order_input.payload) == _NULL:
        raise malformed_order("the start request carried no order")
    try:
        order = _decode(order_input.payload, OrderInput)
    except ValueError as problem:
        raise malformed_order(str(problem)) from None
    if order.personal is not None and (in_clear := order.personal.unsealed()):
        # Refused before anything records it: the start request itself is all that holds it.
        raise malformed_order(
            f"personal data in clear ({', '.join(f'personal.{field}' for field in in_clear)}): a client seals it"
            " under the customer's key before it starts the order (docs/personal-data.md)"
        )
    expected_id = workflow_id_for(order.order_id)
    actual_id = workflow.info().workflow_id
    if actual_id != expected_id:
        raise malformed_order(
            f"workflow id {shortened(actual_id)!r} does not match order_id {shortened(order.order_id)!r}; "
            f"start it as {shortened(expected_id)!r}"
        )
    return order


def read_argument(raw: RawValue, kind: type[ModelT], *, default_if_missing: bool = True) -> ModelT:
    """A handler's argument as `kind`, or MalformedInput naming the fields, where the SDK
    could only say "Failed decoding arguments"."""
    if raw is NO_INPUT or _encoding(raw.payload) == _NULL:
        if default_if_missing:
            return kind()
        raise ApplicationError(f"Malformed {kind.__name__}: no input given", type=MALFORMED_INPUT, non_retryable=True)
    try:
        return _decode(raw.payload, kind)
    except ValueError as problem:
        raise ApplicationError(
            f"Malformed {kind.__name__}: {problem}", type=MALFORMED_INPUT, non_retryable=True
        ) from None


def _encoding(payload: Payload) -> bytes | None:
    return payload.metadata.get("encoding")


def _decode(payload: Payload, kind: type[ModelT]) -> ModelT:
    """`payload` as `kind`; ValueError with a bounded, readable message otherwise."""
    encoding = _encoding(payload)
    if encoding != _JSON:
        # binary/plain would decode to bytes and json/protobuf to a protobuf message:
        # neither is one of our models, whatever the converter makes of them.
        shown = encoding.decode(errors="replace") if encoding else "none"
        raise ValueError(f"expected JSON (encoding json/plain), got encoding {shortened(shown)!r}")
    try:
        value = workflow.payload_converter().from_payload(payload, kind)
    except pydantic.ValidationError as err:
        raise ValueError(describe_validation_error(err)) from None
    except Exception as err:  # noqa: BLE001 - whatever a converter raises, the payload is unreadable
        raise ValueError(f"not readable as {kind.__name__}: {shortened(str(err), _MAX_DECODER_MESSAGE)}") from None
    if not isinstance(value, kind):
        raise ValueError(f"decoded to {type(value).__name__}, not {kind.__name__}")
    return value
