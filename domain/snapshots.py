"""Snapshots: an order's state as of a version, kept so a read need not fold from the
first event (the tutorial's OrderSnapshot).

A snapshot is a cache, never a source: the stream decides. One taken under another
layout of `OrderState` (another STATE_SCHEMA_VERSION) is ignored and the stream folded
from its first event, never read into today's model.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.events import EventEnvelope
from domain.state import STATE_SCHEMA_VERSION, OrderState, apply_event, fold_events
from domain.stream import VersionNotFound


@dataclass(frozen=True)
class Snapshot:
    stream_id: str
    version: int
    state: OrderState
    state_schema_version: int
    created_at: datetime


class SnapshotSource(Protocol):
    def nearest(self, stream_id: str, at_most: int) -> Snapshot | None:
        """The snapshot of `stream_id` with the highest version not above `at_most`."""
        ...


def usable(snapshot: Snapshot | None, stream_id: str, version: int) -> Snapshot | None:
    if snapshot is None or snapshot.state_schema_version != STATE_SCHEMA_VERSION:
        return None
    if snapshot.stream_id != stream_id or not 0 < snapshot.version <= version:
        return None
    return snapshot


def state_from_snapshot(
    stream_id: str, envelopes: Sequence[EventEnvelope], version: int | None = None, snapshot: Snapshot | None = None
) -> OrderState:
    """The state after `version` (the latest if None): from `snapshot` when it can be used,
    folding only the events after it; else from the first event."""
    last = envelopes[-1].version if envelopes else 0
    target = last if version is None else version
    if not 0 <= target <= last:
        raise VersionNotFound(f"order {stream_id} has versions 1 to {last}; there is no version {target}")
    start = usable(snapshot, stream_id, target)
    if start is None:
        return fold_events(stream_id, envelopes[:target])
    state = start.state
    for envelope in envelopes[start.version : target]:
        state = apply_event(state, envelope)
    return state
