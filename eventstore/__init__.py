"""Temporal's workflow history, read as an event store.

Reads go to the history itself (never to a query), so they work while an order runs,
after it closed, with no worker running, and offline on an exported history file. The
server reader and the file reader hand out the same `domain.OrderStream`.
"""

from eventstore.history import HistoryReadError, envelopes_in_history, latest_envelope_in_memo, stream_in
from eventstore.history_file import load_history_file, read_history_file
from eventstore.store import EventStore, StoredStream, StreamNotFound

__all__ = [
    "EventStore",
    "HistoryReadError",
    "StoredStream",
    "StreamNotFound",
    "envelopes_in_history",
    "latest_envelope_in_memo",
    "load_history_file",
    "read_history_file",
    "stream_in",
]
