"""Finding the domain events in a workflow history.

OrderWorkflow records each envelope by upserting the memo key `domain_event`; each
upsert is a WorkflowPropertiesModified history event carrying exactly that envelope.
"""

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from connection.encryption import EncryptionKeyError, MalformedPayloadError, PayloadOpener, refuse_encrypted
from contract import DOMAIN_EVENT_MEMO_KEY, order_id_of
from domain import EventEnvelope, EventSchemaError, OrderStream, describe_validation_error, upcast

_JSON_ENCODING = b"json/plain"


class HistoryReadError(ValueError):
    """A history whose domain events cannot be read."""


def stream_in(history: WorkflowHistory, open_payload: PayloadOpener = refuse_encrypted) -> OrderStream:
    """The order stream recorded in `history`, upcast to the current schemas; encrypted
    envelopes opened with `open_payload` (connection.encryption)."""
    try:
        envelopes = envelopes_in_history(history.events, open_payload)
    except HistoryReadError as err:
        raise HistoryReadError(f"workflow {history.workflow_id!r}: {err}") from None
    order_id = envelopes[0].stream_id if envelopes else order_id_of(history.workflow_id)
    if order_id is None:
        raise HistoryReadError(f"workflow {history.workflow_id!r} holds no order events (is it an OrderWorkflow?)")
    return OrderStream(order_id, tuple(envelopes))


def envelopes_in_history(
    events: Iterable[HistoryEvent], open_payload: PayloadOpener = refuse_encrypted
) -> list[EventEnvelope]:
    """Every envelope recorded in `events`, upcast to the current schema, in version order."""
    return [
        read_envelope(payload, f"history event {event_id}", open_payload)
        for event_id, payload in recorded_envelopes(events)
    ]


def recorded_envelopes(events: Iterable[HistoryEvent]) -> list[tuple[int, Payload]]:
    """Each envelope as the history holds it (encrypted when it was written so), with the
    id of the history event that carries it, in version order."""
    recorded = []
    for event in events:
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            continue
        fields = event.workflow_properties_modified_event_attributes.upserted_memo.fields
        if DOMAIN_EVENT_MEMO_KEY in fields:
            recorded.append((event.event_id, fields[DOMAIN_EVENT_MEMO_KEY]))
    return recorded


def latest_envelope_in_memo(
    memo_fields: Mapping[str, Payload], workflow_id: str, open_payload: PayloadOpener = refuse_encrypted
) -> EventEnvelope | None:
    """The envelope the order's memo holds now, its latest event, as visibility lists it;
    None when it has none yet."""
    if DOMAIN_EVENT_MEMO_KEY not in memo_fields:
        return None
    return read_envelope(memo_fields[DOMAIN_EVENT_MEMO_KEY], f"workflow {workflow_id!r}'s memo", open_payload)


def read_envelope(payload: Payload, where: str, open_payload: PayloadOpener = refuse_encrypted) -> EventEnvelope:
    """One recorded envelope, opened, upcast and checked; `where` names it in an error."""
    try:
        payload = open_payload(payload)
    except (EncryptionKeyError, MalformedPayloadError) as err:
        raise HistoryReadError(f"{where}: {err}") from None
    encoding = payload.metadata.get("encoding")
    if encoding != _JSON_ENCODING:
        raise HistoryReadError(f"{where}: domain event encoded as {encoding!r}, expected json/plain")
    try:
        # Decimal, not float: amounts are read exactly as they were written.
        raw = json.loads(payload.data, parse_float=Decimal)
        return EventEnvelope.model_validate(upcast(raw))
    except json.JSONDecodeError as err:
        raise HistoryReadError(f"{where}: domain event is not JSON: {err}") from None
    except EventSchemaError as err:
        raise HistoryReadError(f"{where}: {err}") from None
    except ValidationError as err:
        raise HistoryReadError(f"{where}: malformed domain event: {describe_validation_error(err)}") from None
