"""Upcasting on read: events recorded under an older schema are lifted to the current
one before anything folds them. History is never rewritten; readers adapt.

Each upcaster takes the `data` of one event type at one schema version and returns it
at the next version. `upcast` applies them in a chain, v1 -> v2 -> ... -> current.

Schema changes so far:
- OrderReceived v2: every order line carries a `currency`. Lines recorded before
  (v1) were all in US dollars, the only currency the shop took, so they read as "USD".
- OrderValidated v2: every error and warning carries a code and a subject beside its
  message. Those recorded before (v1) were messages in a few fixed forms, which
  `domain.problems.problem_from_message` tells apart.
- OrderReceived v3: an order may carry personal data, sealed. Those recorded before (v2)
  carried none: their data is v3's as it is.
"""

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator

from domain.events import EVENT_TYPES, EventEnvelope
from domain.orders import DEFAULT_CURRENCY
from domain.problems import problem_from_message

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]


class EventSchemaError(ValueError):
    """An event whose schema this code cannot bring up to date."""


def _order_lines_get_a_currency(data: Data) -> Data:
    return {**data, "items": [{"currency": DEFAULT_CURRENCY, **item} for item in data.get("items", [])]}


def _problems_get_codes(data: Data) -> Data:
    result = data.get("validation_result", {})
    lifted = {
        key: [problem_from_message(message).model_dump(mode="json") for message in result.get(key, [])]
        for key in ("errors", "warnings")
    }
    return {**data, "validation_result": {**result, **lifted}}


def _no_personal_data(data: Data) -> Data:
    return data


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("OrderReceived", 1): _order_lines_get_a_currency,
    ("OrderReceived", 2): _no_personal_data,
    ("OrderValidated", 1): _problems_get_codes,
}


def upcast(raw_envelope: Data) -> Data:
    """The envelope (as plain JSON data) with its data at the current schema version."""
    event_type = raw_envelope.get("event_type")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise EventSchemaError(f"unknown event_type {event_type!r}")
    event_class = EVENT_TYPES[event_type]
    version = raw_envelope.get("schema_version")
    current = event_class.SCHEMA_VERSION
    if not isinstance(version, int) or version < 1:
        raise EventSchemaError(f"{event_type} has no valid schema_version: {version!r}")
    if version > current:
        raise EventSchemaError(
            f"{event_type} schema_version {version} is newer than this code knows ({current}): upgrade the reader"
        )
    data = raw_envelope.get("data")
    while version < current:
        if not isinstance(data, dict):
            raise EventSchemaError(f"{event_type} schema_version {version} has no data to upcast")
        upcaster = UPCASTERS.get((event_type, version))
        if upcaster is None:
            raise EventSchemaError(f"no upcaster lifts {event_type} from schema_version {version}")
        data = upcaster(data)
        version += 1
    return {**raw_envelope, "schema_version": version, "data": data}


def _upcast_recorded(value: Any) -> Any:
    """A recorded envelope (plain JSON data) lifted to today's schema; anything else as it is."""
    if isinstance(value, dict) and isinstance(value.get("event_type"), str):
        event_class = EVENT_TYPES.get(value["event_type"])
        version = value.get("schema_version")
        if event_class is not None and isinstance(version, int) and version < event_class.SCHEMA_VERSION:
            return upcast(value)
    return value


# An envelope as a step's result recorded it: a workflow replaying a history recorded
# before an event's schema changed reads it lifted to today's schema, as every reader does.
RecordedEnvelope = Annotated[EventEnvelope, BeforeValidator(_upcast_recorded)]
