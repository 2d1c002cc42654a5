"""Snapshots of closed orders, without a server: each the fold of its events; every past
layout read right (a fixture per layout, tests/histories/snapshots/) or folded from the
events, never misread; sealed like the payloads they are folded from; and the archive's
rows of old (the CLI's proto JSON, no snapshot, a table without today's columns) migrated
in place, read, and given their snapshots."""

import json
import sqlite3
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from domain import (
    SNAPSHOT_SCHEMA_VERSION,
    STATE_SCHEMA_VERSION,
    OrderSnapshot,
    OrderStream,
    SnapshotSchemaError,
    read_snapshot,
)
from encryption import Keyring
from eventstore import (
    Archive,
    ArchivedOrder,
    EnvelopeReader,
    HistoryReadError,
    SnapshotSeal,
    load_history_file,
    read_history_file,
    snapshot_of_archived,
)
from eventstore.archiving import snapshot_the_rest

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
GOLDEN = sorted(path for path in (HISTORIES / "golden").glob("*.json") if not path.name.endswith(".state.json"))
LAYOUTS = sorted((HISTORIES / "snapshots").iterdir())
TAKEN = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


# Today's layout: the snapshot's schema, and the state's within it.
TODAYS = f"v{SNAPSHOT_SCHEMA_VERSION}-state-v{STATE_SCHEMA_VERSION}"


@pytest.mark.parametrize(
    ("layout", "history"),
    # A layout's fixtures are of the golden histories recorded while it was today's.
    [(layout, history) for layout in LAYOUTS for history in GOLDEN if (layout / history.name).exists()],
    ids=lambda path: path.name.removesuffix(".json"),
)
def test_a_snapshot_of_every_past_layout_reads_as_todays_snapshot_of_the_same_history(layout, history):
    stored = json.loads((layout / history.name).read_text(), parse_float=Decimal)
    assert read_snapshot(stored) == OrderSnapshot.of(read_history_file(history), TAKEN)


def test_todays_layout_has_a_fixture_of_every_golden_history():
    assert {path.name for path in (HISTORIES / "snapshots" / TODAYS).iterdir()} == {path.name for path in GOLDEN}


@pytest.mark.parametrize("history", GOLDEN, ids=lambda path: path.stem)
def test_a_snapshot_is_the_fold_of_its_stream_and_what_its_events_say_was_done(history):
    stream = read_history_file(history)
    snapshot = OrderSnapshot.of(stream, TAKEN)
    assert (snapshot.state, snapshot.last_event_version) == (stream.state_at(), stream.version)
    assert snapshot.received_at == stream.envelopes[0].created_at
    assert snapshot.differences(stream) == []
    assert snapshot.differences(OrderStream(stream.order_id, stream.envelopes[:-1])) != []
    if snapshot.state.fulfillment_id:
        assert snapshot.effects.fulfillment_id == snapshot.state.fulfillment_id


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"schema_version": SNAPSHOT_SCHEMA_VERSION + 1}, "snapshot schema version 2 is not one this code reads"),
        ({"schema_version": "1"}, "snapshot schema version '1' is not one this code reads"),
        ({"state_schema_version": STATE_SCHEMA_VERSION + 1}, f"a state of schema version {STATE_SCHEMA_VERSION + 1}"),
        ({"state": {"order_id": "X", "status": "Shipped"}}, "a malformed snapshot: state.status"),
    ],
)
def test_a_snapshot_this_code_cannot_read_as_what_it_is_is_refused_naming_why(change, named):
    stored = json.loads(OrderSnapshot.of(read_history_file(GOLDEN[0]), TAKEN).model_dump_json())
    with pytest.raises(SnapshotSchemaError, match=named):
        read_snapshot({**stored, **change})


def test_a_snapshot_is_sealed_as_the_shops_payloads_are_and_opens_only_with_its_key():
    keyring = Keyring.parse("A=" + Keyring.new_key())
    snapshot = OrderSnapshot.of(read_history_file(HISTORIES / "golden" / "fulfilled.json"), TAKEN)
    sealed = SnapshotSeal.with_keys(keyring).sealed(snapshot)
    for field in (snapshot.state.customer_id, snapshot.state.tracking_number, snapshot.effects.payment_id):
        assert field and field.encode() not in sealed
    assert SnapshotSeal.with_keys(keyring).opened(sealed, "here") == snapshot
    with pytest.raises(
        HistoryReadError, match="here: the snapshot cannot be opened: a payload is encrypted with key 'A'"
    ):
        SnapshotSeal().opened(sealed, "here")
    with pytest.raises(HistoryReadError, match="the snapshot cannot be opened"):
        SnapshotSeal().opened(b"\xff not a payload", "here")


def old_archive(place: Path) -> Path:
    """An archive as the build before snapshots made it: no snapshot, format or compaction
    column, and a row holding the CLI's proto JSON of its history."""
    place.mkdir()
    path = place / "orders-archive.sqlite"
    history = load_history_file(HISTORIES / "golden" / "fulfilled.json")
    order = ArchivedOrder.of("GOLDEN-FULFILLED", history, TAKEN, b"")
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE archived_orders (order_id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, run_id TEXT NOT NULL,"
            " execution_status TEXT NOT NULL, closed_at TEXT NOT NULL, archived_at TEXT NOT NULL,"
            " last_version INTEGER NOT NULL, history_events INTEGER NOT NULL, history_sha256 TEXT NOT NULL,"
            " history BYTEA NOT NULL, envelopes TEXT NOT NULL, run_began_at TEXT)"
        )
        db.execute(
            "INSERT INTO archived_orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            (
                order.order_id, order.workflow_id, order.run_id, order.execution_status, order.closed_at.isoformat(),
                order.archived_at.isoformat(), order.last_version, order.history_events, order.history_sha256,
                zlib.compress(history.to_json().encode()), order.envelope_payloads,
            ),
        )  # fmt: skip
    return place


def test_an_archive_of_old_is_read_by_a_reader_and_migrated_and_snapshotted_by_the_archiver(tmp_path):
    place = old_archive(tmp_path / "archive")
    golden = read_history_file(HISTORIES / "golden" / "fulfilled.json")

    reading = Archive(place, writing=False)  # a reader changes nothing, and reads the row of old
    row = reading.get("GOLDEN-FULFILLED")
    assert row is not None and (row.history_format, row.snapshot, row.compacted_at) == (None, None, None)
    assert EnvelopeReader().stream(row.history()) == golden
    folded = snapshot_of_archived(next(reading.snapshots()), reading, EnvelopeReader(), SnapshotSeal())
    assert folded is not None and folded.differences(golden) == [], "folded from its events while it has no snapshot"
    reading.close()

    archiver = Archive(place)  # migrated in place: today's columns added
    assert snapshot_the_rest(archiver, EnvelopeReader(), SnapshotSeal()) == 1
    assert snapshot_the_rest(archiver, EnvelopeReader(), SnapshotSeal()) == 0, "each order snapshotted once"
    migrated = archiver.get("GOLDEN-FULFILLED")
    assert migrated is not None and migrated.snapshot is not None and migrated.run_began_at is not None
    assert SnapshotSeal().opened(migrated.snapshot, "here").differences(golden) == []
    assert EnvelopeReader().stream(migrated.history()) == golden, "the row of old still reads as it did"
    archiver.close()


def test_a_stored_snapshot_of_a_layout_this_code_does_not_read_is_folded_from_the_events_instead(tmp_path):
    golden = read_history_file(HISTORIES / "golden" / "fulfilled.json")
    stored = json.loads(OrderSnapshot.of(golden, TAKEN).model_dump_json())
    future = SnapshotSeal().sealed(OrderSnapshot.of(golden, TAKEN))
    future = future.replace(b'"schema_version":1', b'"schema_version":9')
    assert stored["schema_version"] == 1 and b'"schema_version":9' in future
    history = load_history_file(HISTORIES / "golden" / "fulfilled.json")
    archive = Archive(tmp_path / "archive")
    archive.put(ArchivedOrder.of(golden.order_id, history, TAKEN, future))
    row = next(archive.snapshots())
    read = snapshot_of_archived(row, archive, EnvelopeReader(), SnapshotSeal())
    assert read is not None and read.differences(golden) == [] and read.created_at != TAKEN
    archive.close()
