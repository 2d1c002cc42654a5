"""Temporal Cloud's Workflow History Export files read into the archive: `orders archive
import PATH…`.

Temporal Cloud has no Archival: it delivers the histories of closed workflows to S3 or
GCS, hourly and at least once, as Workflow History Export files. The layout assumed here
(docs/archive.md): each file holds one serialized `temporal.api.export.v1.WorkflowExecutions`
(its newer name, `ExportedExecutions`, is the same message on the wire for the workflows:
field 1, each a `WorkflowExecution` holding one whole `temporal.api.history.v1.History`),
as binary protobuf, or gzip-compressed. Files are read from local paths; fetching them from
the bucket is the shop's (`aws s3 sync`, `gcloud storage rsync`).

What is kept of each history is what `orders archive` keeps of one read from Temporal: the
order's run, its envelopes and its snapshot, one statement an order, which writes a new
row, or replaces the row of an earlier run of the order, or does nothing. So a file may
hold a reset order's abandoned run and its current run, in either order, or in different
files, or the same run twice (delivery is at least once): the archive ends with the current
run of each order, once; a run `orders archive` wrote already is not written again; and an
import killed at any moment and run again writes nothing twice and loses nothing. Histories
of other workflow types are counted and left alone.

Every file is read and checked before anything is written: a file that is not such an
export, or is damaged, is refused in one line naming it, and nothing is imported.
"""

import gzip
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf.message import DecodeError
from temporalio.api.enums.v1 import EventType
from temporalio.api.export.v1 import ExportedExecutions
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory

from contract import WORKFLOW_TYPE, order_id_of, workflow_id_for
from domain import OrderSnapshot
from eventstore.archive import Archive, ArchivedOrder
from eventstore.history import EnvelopeReader, HistoryReadError, run_of
from eventstore.snapshots import SnapshotSeal

_GZIP = b"\x1f\x8b"


class ExportFileError(HistoryReadError):
    """A file that is not a Workflow History Export, or a damaged one; the message names it."""


@dataclass
class ImportRun:
    files: int = 0
    histories: int = 0  # workflow histories the files hold
    imported: int = 0  # order runs written: new orders, or a later run over an earlier one
    replaced: int = 0  # of those, over an earlier run of the order (a reset's abandoned run)
    already: int = 0  # runs the archive held already (delivered twice, or archived by `orders archive`)
    earlier_runs: int = 0  # runs older than the one the archive holds of the order (abandoned by a reset)
    not_orders: int = 0  # histories of other workflow types


def export_histories(path: Path) -> list[History]:
    """The histories one export file holds; ExportFileError naming the file otherwise."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ExportFileError(f"{path}: cannot read it: {err.strerror or err}") from None
    try:
        if data.startswith(_GZIP):
            data = gzip.decompress(data)
        executions = ExportedExecutions.FromString(data)
    except (OSError, EOFError, DecodeError) as err:
        raise ExportFileError(
            f"{path}: not a Workflow History Export file (temporal.api.export.v1.WorkflowExecutions): {err}"
        ) from None
    histories = [execution.history for execution in executions.workflows]
    if not histories or any(not _begins_a_run(history) for history in histories):
        raise ExportFileError(
            f"{path}: not a Workflow History Export file (temporal.api.export.v1.WorkflowExecutions):"
            + (" it holds no workflow history" if not histories else " a history in it is damaged or cut short")
        )
    return histories


def check_export_files(paths: Sequence[Path]) -> None:
    """ExportFileError naming the first of `paths` that is not a whole export file."""
    for path in paths:
        export_histories(path)


def _begins_a_run(history: History) -> bool:
    """Whether `history` is a whole closed run: it begins with its start and ends with its close."""
    if not history.events or history.events[0].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        return False
    return not run_of(history.events).running


def import_history_exports(
    archive: Archive,
    paths: Sequence[Path],
    reader: EnvelopeReader,
    seal: SnapshotSeal,
    on_progress: Callable[[int, int], None] | None = None,
    *,
    checked: bool = False,
) -> ImportRun:
    """Import the order histories in the export files at `paths` into `archive`, each
    order's current run once. Every file is checked first (ExportFileError names the first
    that is not an export), unless `checked` says `check_export_files` did; then read
    again, one at a time, to import: memory holds one file."""
    if not checked:
        check_export_files(paths)
    run = ImportRun()
    for number, path in enumerate(paths, start=1):
        for history in export_histories(path):
            run.histories += 1
            _import(archive, history, reader, seal, run)
        run.files += 1
        if on_progress:
            on_progress(number, len(paths))
    return run


def _import(archive: Archive, history: History, reader: EnvelopeReader, seal: SnapshotSeal, run: ImportRun) -> None:
    started = history.events[0].workflow_execution_started_event_attributes
    if started.workflow_type.name != WORKFLOW_TYPE:
        run.not_orders += 1
        return
    workflow_id = started.workflow_id or _workflow_id_from_events(history, reader)
    order_id = order_id_of(workflow_id) if workflow_id else None
    if workflow_id is None or order_id is None:
        run.not_orders += 1
        return
    held = archive.known([order_id]).get(order_id)
    if held is not None and held.run_id == run_of(history.events).run_id:
        run.already += 1  # nothing folded: an export delivered twice costs a look-up an order
        return
    closed = WorkflowHistory(workflow_id, list(history.events))
    now = datetime.now(UTC)
    order = ArchivedOrder.of(order_id, closed, now, seal.sealed(OrderSnapshot.of(reader.stream(closed), now)))
    if archive.put(order):
        run.imported += 1
        run.replaced += held is not None
    else:
        run.earlier_runs += 1


def _workflow_id_from_events(history: History, reader: EnvelopeReader) -> str | None:
    """Of a history whose start does not name its workflow (servers before it did), the
    order's workflow id from the stream its recorded events belong to (None: it records none)."""
    envelopes = reader.in_events(history.events)
    return workflow_id_for(envelopes[0].stream_id) if envelopes else None
