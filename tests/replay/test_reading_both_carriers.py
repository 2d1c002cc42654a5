"""Orders recorded by the build that upserted each event into the memo read exactly as
that build read them: `orders events FILE --json` prints, byte for byte, what it printed
(tests/replay/read_before/, written by `orders events` at 7baead5 from the same files)."""

from pathlib import Path

import pytest

from eventstore import load_history_file, read_history_file
from eventstore.history import recorded_carriers
from tests.integration.helpers import run_orders_command

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
READ_BEFORE = Path(__file__).resolve().parent / "read_before"
PRINTED = sorted(READ_BEFORE.glob("*.events.txt"))


def test_every_path_recorded_before_has_its_printed_stream():
    assert {path.name.removesuffix(".events.txt") for path in PRINTED} == {
        path.stem for path in (HISTORIES / "before-events-in-history").glob("*.json") if ".state" not in path.name
    }


@pytest.mark.parametrize("printed", PRINTED, ids=lambda path: path.name.removesuffix(".events.txt"))
def test_a_memo_carried_history_prints_the_stream_it_printed_before(printed):
    history = HISTORIES / "before-events-in-history" / printed.name.replace(".events.txt", ".json")
    result = run_orders_command("events", str(history), "--json", address="127.0.0.1:1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == printed.read_text()


@pytest.mark.parametrize("name", ["fulfilled", "approved", "cancelled-with-refund", "approval-timeout"])
def test_a_recording_of_either_build_holds_one_carrier_an_envelope_each(name):
    """Today's golden history carries its events in step results, none in the memo; the
    build before's in memo upserts, one envelope each; both fold to the same story."""
    today = read_history_file(HISTORIES / "golden" / f"{name}.json")
    before = read_history_file(HISTORIES / "before-events-in-history" / f"{name}.json")
    assert [e.event_type for e in today.envelopes] == [e.event_type for e in before.envelopes]
    assert today.state_at().status == before.state_at().status
    carriers = recorded_carriers(load_history_file(HISTORIES / "golden" / f"{name}.json").events)
    assert sum(carrier.envelopes for carrier in carriers) == len(today.envelopes)
