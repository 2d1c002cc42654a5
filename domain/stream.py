"""One order's stream, and the reads every reader makes of it: a window of versions, or
the state as of a version or a time.

The server reader, the history-file reader and the workflow's own queries all hand out
an `OrderStream`, so a read means the same thing wherever it is made.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.events import EventEnvelope
from domain.state import OrderState, fold_events


class VersionNotFound(LookupError):
    """A version the stream does not have."""


@dataclass(frozen=True)
class OrderStream:
    """An order's envelopes, in version order, wherever they were read from."""

    order_id: str
    envelopes: tuple[EventEnvelope, ...]

    @property
    def version(self) -> int:
        """The version of the latest event; 0 for a stream with none."""
        return self.envelopes[-1].version if self.envelopes else 0

    def read(self, from_version: int = 1, limit: int | None = None) -> list[EventEnvelope]:
        """The envelopes from `from_version` on, at most `limit` of them (the tutorial's read_stream)."""
        return read_window(self.envelopes, from_version, limit)

    def state_at(self, version: int | None = None, at: datetime | None = None) -> OrderState:
        """The state after `version`, or after every event recorded at or before `at`; else the latest."""
        return state_as_of(self.order_id, self.envelopes, version, at)


def read_window(
    envelopes: Sequence[EventEnvelope], from_version: int = 1, limit: int | None = None
) -> list[EventEnvelope]:
    if from_version < 1:
        raise ValueError(f"from_version must be 1 or more, not {from_version}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be 0 or more, not {limit}")
    selected = [envelope for envelope in envelopes if envelope.version >= from_version]
    return selected if limit is None else selected[:limit]


def state_as_of(
    order_id: str,
    envelopes: Sequence[EventEnvelope],
    version: int | None = None,
    at: datetime | None = None,
) -> OrderState:
    if version is not None and at is not None:
        raise ValueError("give a version or a time, not both")
    if version is not None:
        last = envelopes[-1].version if envelopes else 0
        if not 0 <= version <= last:
            raise VersionNotFound(f"order {order_id} has versions 1 to {last}; there is no version {version}")
        return fold_events(order_id, envelopes[:version])
    if at is not None:
        if at.tzinfo is None:
            raise ValueError(f"time {at.isoformat()} has no time zone")
        return fold_events(order_id, [envelope for envelope in envelopes if envelope.created_at <= at])
    return fold_events(order_id, envelopes)
