"""Temporal's workflow history, read as an event store.

Reads go to the history itself (never to a query), so they work while an order runs,
after it closed, with no worker running, and offline on an exported history file. The
server reader and the file reader hand out the same `domain.OrderStream`. Closed orders
are copied to the archive before Temporal's retention deletes their histories, and every
read falls back to it (eventstore.archive).
"""

from eventstore.archive import (
    Archive,
    ArchivedOrder,
    ArchivedSnapshot,
    ArchiveError,
    EventsCompacted,
    Tombstone,
    archive_exists,
    open_archive,
)
from eventstore.archiving import (
    ArchiveRun,
    Verification,
    archive_closed_orders,
    listed,
    unarchived_closed_before,
    verify_archive,
)
from eventstore.compaction import Compaction, compact_archive
from eventstore.history import LOCAL_ACTIVITY_LAYOUT, PLAIN, EnvelopeReader, HistoryReadError, local_activity_result
from eventstore.history_export import (
    ExportFileError,
    ImportRun,
    check_export_files,
    export_histories,
    import_history_exports,
)
from eventstore.history_file import load_history_file, read_history_file
from eventstore.listing import Listing
from eventstore.snapshots import SnapshotSeal, snapshot_of_archived
from eventstore.store import EventStore, FoundHistory, FoundSnapshot, FoundStream, StreamNotFound

__all__ = [
    "LOCAL_ACTIVITY_LAYOUT",
    "PLAIN",
    "Archive",
    "ArchiveError",
    "ArchiveRun",
    "ArchivedOrder",
    "ArchivedSnapshot",
    "Compaction",
    "EnvelopeReader",
    "EventStore",
    "EventsCompacted",
    "ExportFileError",
    "FoundHistory",
    "FoundSnapshot",
    "FoundStream",
    "HistoryReadError",
    "ImportRun",
    "Listing",
    "SnapshotSeal",
    "StreamNotFound",
    "Tombstone",
    "Verification",
    "archive_closed_orders",
    "archive_exists",
    "check_export_files",
    "compact_archive",
    "export_histories",
    "import_history_exports",
    "listed",
    "load_history_file",
    "local_activity_result",
    "open_archive",
    "read_history_file",
    "snapshot_of_archived",
    "unarchived_closed_before",
    "verify_archive",
]
