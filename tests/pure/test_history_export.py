"""Temporal Cloud's History Export files as `orders archive import` reads them, built with
the SDK's protobuf classes from the golden histories: what is refused (naming the file),
and what is imported (each order once, twice delivered or not)."""

import gzip
from pathlib import Path

import pytest
from temporalio.api.export.v1 import ExportedExecutions, WorkflowExecution, WorkflowExecutions
from temporalio.api.history.v1 import History

from eventstore import (
    PLAIN,
    Archive,
    ExportFileError,
    SnapshotSeal,
    check_export_files,
    export_histories,
    import_history_exports,
    load_history_file,
)

GOLDEN = Path(__file__).resolve().parents[1] / "histories" / "golden"
NAMES = ("fulfilled", "approved", "cancelled-with-refund")


def golden(name: str) -> History:
    return History(events=load_history_file(GOLDEN / f"{name}.json").events)


def export_file(path: Path, *histories: History) -> Path:
    path.write_bytes(WorkflowExecutions(items=[WorkflowExecution(history=h) for h in histories]).SerializeToString())
    return path


def test_both_names_of_the_message_and_gzip_read_the_same(tmp_path):
    plain = export_file(tmp_path / "plain.pb", *(golden(name) for name in NAMES))
    newer = tmp_path / "newer.pb"
    newer.write_bytes(
        ExportedExecutions(workflows=[WorkflowExecution(history=golden(n)) for n in NAMES]).SerializeToString()
    )
    zipped = tmp_path / "zipped.pb.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert export_histories(plain) == export_histories(newer) == export_histories(zipped)
    assert [len(history.events) for history in export_histories(plain)] == [len(golden(n).events) for n in NAMES]


def bad_gzip(tmp_path: Path) -> Path:
    (tmp_path / "garbage.gz").write_bytes(b"\x1f\x8bnot gzip")
    return tmp_path / "garbage.gz"


def cut_short(tmp_path: Path) -> Path:
    open_run = golden("fulfilled")
    del open_run.events[-1]
    return export_file(tmp_path / "open.pb", open_run)


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda tmp: tmp / "missing.pb", "cannot read it"),
        (lambda tmp: export_file(tmp / "empty.pb"), "it holds no workflow history"),
        (cut_short, "a history in it is damaged or cut short"),
        (bad_gzip, "not a Workflow History Export file"),
        (lambda tmp: GOLDEN / "fulfilled.json", "not a Workflow History Export file"),
    ],
    ids=["missing", "empty", "cut short", "bad gzip", "a CLI history JSON"],
)
def test_a_file_that_is_not_a_whole_export_is_refused_naming_it(tmp_path, make, said):
    path = make(tmp_path)
    with pytest.raises(ExportFileError, match=said) as refused:
        check_export_files([export_file(tmp_path / "good.pb", golden("fulfilled")), path])
    assert str(refused.value).startswith(str(path))


def test_each_order_is_imported_once_however_often_it_is_delivered(tmp_path):
    first = export_file(tmp_path / "first.pb", golden("fulfilled"), golden("approved"))
    second = export_file(
        tmp_path / "second.pb", golden("approved"), golden("approved"), golden("cancelled-with-refund")
    )
    archive = Archive(tmp_path / "archive")
    try:
        done = import_history_exports(archive, [first, second], PLAIN, SnapshotSeal())
        assert (done.files, done.histories, done.imported, done.already, done.replaced) == (2, 5, 3, 2, 0)
        assert archive.count() == 3
        again = import_history_exports(archive, [second, first], PLAIN, SnapshotSeal())
        assert (again.imported, again.already) == (0, 5)
        for name in NAMES:
            stream = PLAIN.stream(load_history_file(GOLDEN / f"{name}.json"))
            row = archive.get(stream.order_id)
            assert row is not None and row.snapshot is not None
            assert row.stream() == stream
            assert SnapshotSeal().opened(row.snapshot, name).differences(stream) == []
    finally:
        archive.close()
