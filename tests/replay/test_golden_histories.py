"""Every recorded history replays with the code that serves it, and reads back to its
recorded state.

tests/histories/ holds histories recorded from a real dev server by
scripts/record_golden_histories.py: golden/ with today's code; before-events-in-history/
by the build that carried each event in a memo upsert (tests/replay/memo_carrier_build.py);
before-patches-retired/ by the last build that took its changes behind `workflow.patched`
(tests/replay/unversioned_build.py); before-fraud-screening/, before-compensation/,
before-cancel-requests/, before-problem-codes/, before-fewer-round-trips/,
before-projection-clock/ and schema-v1/ by older code still. Today's build serves
golden/; the memo-carrier build serves before-events-in-history/ and
before-patches-retired/ (its deprecated patch lets those replay); the unversioned build
serves every recording before it, as their builds' workers would under Worker Versioning
(docs/deploying.md). A change that would break an order its build serves fails here,
naming the file and the history event.
"""

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.common import RawValue
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from domain import OrderInput, OrderState, needs_fraud_screening
from encryption import Keyring
from eventstore import EnvelopeReader, HistoryReadError, load_history_file, read_history_file
from hosting import workflow_options
from hosting.replaying import replay
from tests.replay.memo_carrier_build import MemoCarrierOrderWorkflow
from tests.replay.unversioned_build import UnversionedOrderWorkflow
from workflows.inputs import NO_INPUT

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
RECORDED = sorted(path for path in HISTORIES.glob("*/*.json") if not path.name.endswith(".state.json"))
BEFORE_SCREENING = HISTORIES / "before-fraud-screening"
# The recordings each build serves; the unversioned build serves every recording before it.
SERVED_TODAY = {"golden"}
SERVED_BY_THE_MEMO_CARRIER = {"before-events-in-history", "before-patches-retired"}
TODAYS = [path for path in RECORDED if path.parent.name in SERVED_TODAY]
MEMO_CARRIERS = [path for path in RECORDED if path.parent.name in SERVED_BY_THE_MEMO_CARRIER]
OLDER = [path for path in RECORDED if path.parent.name not in SERVED_TODAY | SERVED_BY_THE_MEMO_CARRIER]


def expected_state(history: Path) -> OrderState:
    return OrderState.model_validate_json(history.with_name(history.stem + ".state.json").read_text())


def test_every_path_has_a_golden_history():
    golden = {path.stem for path in RECORDED if path.parent.name == "golden"}
    assert golden >= {
        "fulfilled",
        "large-order-warning",
        "invalid",
        "payment-failed",
        "approved",
        "rejected",
        "approval-timeout",
        "cancelled-with-refund",
        "out-of-stock",
        "failed-fraud-screening",
        "failed-after-charge",
        "cancelled-on-arrival",
        "temporal-cancel-while-held",
        "temporal-cancel-while-shipping",
    }


@pytest.mark.parametrize("history", TODAYS, ids=lambda path: f"{path.parent.name}/{path.stem}")
async def test_a_recorded_history_replays_with_todays_code(history):
    report = await replay(load_history_file(history))
    assert report.ok, (
        f"{history.relative_to(HISTORIES)}: replay diverged at event {report.event_id}"
        f" ({report.event_type}): {report.error}"
    )


@pytest.mark.parametrize("history", MEMO_CARRIERS, ids=lambda path: f"{path.parent.name}/{path.stem}")
async def test_a_recorded_history_replays_with_the_memo_carrier_build(history):
    failure = await replay_failure_with(load_history_file(history), MemoCarrierOrderWorkflow)
    assert failure is None, f"{history.relative_to(HISTORIES)}: {failure}"


@pytest.mark.parametrize(
    "history",
    [path for path in RECORDED if path.parent.name not in {"golden", "before-events-in-history"}],
    ids=lambda path: f"{path.parent.name}/{path.stem}",
)
async def test_a_recorded_history_replays_with_the_unversioned_build(history):
    """Every recording but those of the builds after it."""
    failure = await replay_failure_with(load_history_file(history), UnversionedOrderWorkflow)
    assert failure is None, f"{history.relative_to(HISTORIES)}: {failure}"


@pytest.mark.parametrize("history", MEMO_CARRIERS, ids=lambda path: f"{path.parent.name}/{path.stem}")
async def test_todays_build_does_not_replay_what_the_memo_carrier_build_serves(history):
    """Events carried in step results instead of memo upserts changes every order's
    commands: written without its guard (a build of its own), it breaks each order
    recorded before it, which that build's workers serve instead: its commands differ, or
    its validation's recorded result is not the envelopes today's code reads."""
    assert_diverges(await replay(load_history_file(history)))


def assert_diverges(report) -> None:
    """Today's code cannot serve the order: its commands differ (non-determinism), or a
    recorded step result is not the envelope today's code reads (validation's, decoded
    as a list of envelopes, fails the workflow task)."""
    assert not report.ok, "the suite must be able to fail"
    assert "Nondeterminism" in (report.error or "") or "Failed decoding" in (report.error or ""), report.error


@pytest.mark.parametrize("history", TODAYS, ids=lambda path: path.stem)
async def test_the_memo_carrier_build_does_not_replay_todays_recordings(history):
    assert await replay_failure_with(load_history_file(history), MemoCarrierOrderWorkflow) is not None


@pytest.mark.parametrize(
    "history", [path for path in OLDER if path.stem in ("approved", "fulfilled")], ids=lambda path: path.parent.name
)
async def test_todays_build_does_not_replay_what_the_unversioned_build_serves(history):
    """The retired patches are gone from today's code: the suite can fail, and these
    orders are served by the build that had them."""
    assert_diverges(await replay(load_history_file(history)))


@pytest.mark.parametrize("history", RECORDED, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_a_recorded_history_folds_to_the_state_it_ended_with(history):
    assert read_history_file(history).state_at() == expected_state(history)


@workflow.defn(name="OrderWorkflow", sandboxed=False)
class OrderWorkflowScreeningWithoutPatch(UnversionedOrderWorkflow):
    """Fraud screening as it would be written without `workflow.patched`."""

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        return await super().run(order_input)

    def _takes_fraud_screening(self, order: OrderInput) -> bool:
        return needs_fraud_screening(order.total_amount)


async def replay_failure_with(recorded, workflow_class: type) -> str | None:
    """Why `recorded` fails to replay with `workflow_class`; None if it replays."""
    options = {**workflow_options(), "workflows": [workflow_class]}
    result = await Replayer(data_converter=pydantic_data_converter, **options).replay_workflow(
        recorded, raise_on_replay_failure=False
    )
    return None if result.replay_failure is None else str(result.replay_failure)


@pytest.mark.parametrize("name", ["large-order-warning", "approved", "rejected", "approval-timeout"])
async def test_fraud_screening_without_its_patch_breaks_orders_recorded_before_it(name):
    recorded = load_history_file(BEFORE_SCREENING / f"{name}.json")
    failure = await replay_failure_with(recorded, OrderWorkflowScreeningWithoutPatch)
    assert failure is not None, "the suite must be able to fail"
    assert "screen_for_fraud" in failure
    assert await replay_failure_with(recorded, UnversionedOrderWorkflow) is None, "with the patch, it replays"


async def test_orders_below_the_screening_threshold_are_untouched_by_the_patch():
    recorded = load_history_file(BEFORE_SCREENING / "fulfilled.json")
    assert await replay_failure_with(recorded, OrderWorkflowScreeningWithoutPatch) is None


async def test_a_renamed_activity_fails_replay_naming_the_event(tmp_path):
    original = HISTORIES / "golden" / "cancelled-with-refund.json"
    renamed = tmp_path / "renamed.json"
    renamed.write_text(original.read_text().replace('"name": "refund_payment"', '"name": "refund_charge"'))
    report = await replay(load_history_file(renamed))
    assert not report.ok
    assert "refund_charge" in report.error
    assert report.event_type == "ACTIVITY_TASK_SCHEDULED"
    assert report.state == expected_state(original), "the state still reads back from the history"


@workflow.defn(name="OrderWorkflow", sandboxed=False)
class OrderWorkflowCompensatingWithoutPatch(UnversionedOrderWorkflow):
    """Compensation of failed steps as it would be written without `workflow.patched`."""

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        return await super().run(order_input)

    def _compensates_failures(self) -> bool:
        return True


async def test_compensating_failures_without_its_patch_breaks_orders_that_failed_before_it():
    recorded = load_history_file(HISTORIES / "before-compensation" / "failed-after-charge.json")
    failure = await replay_failure_with(recorded, OrderWorkflowCompensatingWithoutPatch)
    assert failure is not None, "the suite must be able to fail"
    assert "Nondeterminism" in failure
    assert await replay_failure_with(recorded, UnversionedOrderWorkflow) is None, "with the patch, it replays"


@workflow.defn(name="OrderWorkflow", sandboxed=False)
class OrderWorkflowUnwindingCancelRequestsWithoutPatch(UnversionedOrderWorkflow):
    """Cancel requests carried out as cancellations, written without `workflow.patched`."""

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        return await super().run(order_input)

    def _unwinds_cancel_requests(self) -> bool:
        return True


@pytest.mark.parametrize("name", ["temporal-cancel-while-held", "temporal-cancel-while-shipping"])
async def test_unwinding_cancel_requests_without_its_patch_breaks_orders_cancelled_before_it(name):
    recorded = load_history_file(HISTORIES / "before-cancel-requests" / f"{name}.json")
    failure = await replay_failure_with(recorded, OrderWorkflowUnwindingCancelRequestsWithoutPatch)
    assert failure is not None, "the suite must be able to fail"
    assert "Nondeterminism" in failure
    assert await replay_failure_with(recorded, UnversionedOrderWorkflow) is None, "with the patch, it replays"


@workflow.defn(name="OrderWorkflow", sandboxed=False)
class OrderWorkflowWithFewerRoundTripsWithoutPatch(UnversionedOrderWorkflow):
    """Local validation and fewer upserts, written without `workflow.patched`."""

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        return await super().run(order_input)

    def _takes_fewer_round_trips(self) -> bool:
        return True


@pytest.mark.parametrize("name", ["fulfilled", "approved", "cancelled-with-refund"])
async def test_fewer_round_trips_without_its_patch_breaks_orders_recorded_before_it(name):
    recorded = load_history_file(HISTORIES / "before-fewer-round-trips" / f"{name}.json")
    failure = await replay_failure_with(recorded, OrderWorkflowWithFewerRoundTripsWithoutPatch)
    assert failure is not None, "the suite must be able to fail"
    assert "Nondeterminism" in failure
    assert await replay_failure_with(recorded, UnversionedOrderWorkflow) is None, "with the patch, it replays"


@workflow.defn(name="OrderWorkflow", sandboxed=False)
class OrderWorkflowWithProjectionClockWithoutPatch(UnversionedOrderWorkflow):
    """OrderVersion and OrderUpdatedAt published with the status, written without `workflow.patched`."""

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        return await super().run(order_input)

    def _publishes_the_projection_clock(self) -> bool:
        return True


@pytest.mark.parametrize("name", ["fulfilled", "approved", "cancelled-with-refund"])
async def test_the_projection_clock_without_its_patch_breaks_orders_recorded_before_it(name):
    recorded = load_history_file(HISTORIES / "before-projection-clock" / f"{name}.json")
    failure = await replay_failure_with(recorded, OrderWorkflowWithProjectionClockWithoutPatch)
    assert failure is not None, "the suite must be able to fail"
    assert "Nondeterminism" in failure
    assert await replay_failure_with(recorded, UnversionedOrderWorkflow) is None, "with the patch, it replays"


ENCRYPTED_DIR = HISTORIES.parent / "histories-encrypted"
KEYRING = Keyring.parse(f"@{ENCRYPTED_DIR / 'key.txt'}")


@pytest.mark.parametrize("history", sorted(ENCRYPTED_DIR.glob("order-*.json")), ids=lambda path: path.stem)
async def test_an_encrypted_history_replays_and_reads_back_with_its_key(history):
    report = await replay(load_history_file(history, EnvelopeReader.with_keys(KEYRING)), keyring=KEYRING)
    assert report.ok, f"{history.name}: replay diverged at event {report.event_id}: {report.error}"
    reads_back_only_with_its_key(history)


@pytest.mark.parametrize(
    "history", sorted((ENCRYPTED_DIR / "before-events-in-history").glob("order-*.json")), ids=lambda path: path.stem
)
def test_an_encrypted_memo_carried_history_reads_back_with_its_key(history):
    reads_back_only_with_its_key(history)


def reads_back_only_with_its_key(history: Path) -> None:
    """The fold of the decrypted events is the workflow's own result, decrypted; without
    the key the history is refused, naming the key."""
    events = load_history_file(history, EnvelopeReader.with_keys(KEYRING)).events
    completed = next(event for event in events if event.HasField("workflow_execution_completed_event_attributes"))
    result = KEYRING.open(completed.workflow_execution_completed_event_attributes.result.payloads[0])
    assert read_history_file(history, EnvelopeReader.with_keys(KEYRING)).state_at() == OrderState.model_validate_json(
        result.data
    )
    with pytest.raises(HistoryReadError, match="encrypted with key 'A'; set ORDERS_ENCRYPTION_KEYS"):
        read_history_file(history)
