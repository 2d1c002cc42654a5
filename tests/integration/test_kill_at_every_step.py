"""A worker SIGKILLed at every step of an order, as real processes on the dev server.

For each activity, the worker dies `during` it (the effect is done outside, the result
never reported) or right `after` it returned; with one worker process a fresh one is
started after the death, with two the other carries on. The order must end as it would
have, with each effect in the ledger exactly once and the stream agreeing with the ledger
(`orders reconcile`'s rules).

A death during an activity is noticed by Temporal when the activity's start-to-close
timeout passes (30 s; 10 s for the local validation's workflow task), so the cases run
side by side, each on a task queue and ledger of its own: the whole test takes about as
long as the slowest case, about a minute on a 2-core machine.
"""

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowUpdateStage

from activities.ledger import effects_by_workflow_id
from client import start_order
from domain import OrderInput, OrderStatus
from domain.decisions import ApprovePayment, CancelOrder, RejectPayment
from eventstore import EventStore
from orders_cli.reconcile import reconcile
from tests.integration.helpers import address_of, read_until, spawn_script
from tests.orders import Ledger, one_line_order, wait_for_status
from workflows.order_workflow import OrderWorkflow

SCRIPT = "tests/integration/worker_that_dies_once.py"
CASES_AT_ONCE = 11


@dataclass(frozen=True)
class Journey:
    """An order that passes through the step, what a person does on the way, how it ends."""

    order: dict
    decision: str | None  # approve, reject or cancel, sent once the order waits for it
    waits_at: OrderStatus | None
    ends: OrderStatus
    refunded: bool = False


SMALL = Journey({"product_id": "PROD-001", "quantity": 2, "unit_price": "10.00"}, None, None, OrderStatus.FULFILLED)
SCREENED = Journey(
    {"product_id": "PROD-002", "quantity": 1, "unit_price": "15000.00"}, None, None, OrderStatus.FULFILLED
)
APPROVED = Journey(
    {"product_id": "PROD-009", "quantity": 2, "unit_price": "30000.00"},
    "approve",
    OrderStatus.PAYMENT_PENDING,
    OrderStatus.FULFILLED,
)
REJECTED = Journey(
    {"product_id": "PROD-009", "quantity": 2, "unit_price": "30000.00"},
    "reject",
    OrderStatus.PAYMENT_PENDING,
    OrderStatus.CANCELLED,
)
CANCELLED_WHILE_HELD = Journey(
    {"product_id": "PROD-003", "quantity": 1, "unit_price": "20.00", "cancellation_window": timedelta(hours=1)},
    "cancel",
    OrderStatus.INVENTORY_RESERVED,
    OrderStatus.CANCELLED,
    refunded=True,
)
STEPS = {
    "validate_order": SMALL,
    "screen_for_fraud": SCREENED,
    "process_payment": SMALL,
    "capture_payment": APPROVED,
    "void_payment": REJECTED,
    "reserve_inventory": SMALL,
    "release_inventory": CANCELLED_WHILE_HELD,
    "refund_payment": CANCELLED_WHILE_HELD,
    "fulfill_order": SMALL,
}
CASES = [(step, when, 1) for step in STEPS for when in ("during", "after")] + [
    ("process_payment", "during", 2),
    ("reserve_inventory", "during", 2),
    ("fulfill_order", "after", 2),
]


@dataclass
class Outcome:
    case: str
    problems: list[str]
    recovery_seconds: float | None = None


async def run_case(dev_env, base: Path, unique: str, step: str, when: str, processes: int) -> Outcome:
    name = f"{step}-{when}-x{processes}"
    journey = STEPS[step]
    data = base / name
    ledger = Ledger(data / "ledger.sqlite")
    stock_before = ledger.db.rows("SELECT SUM(on_hand) FROM stock")[0][0]
    env = {"TEMPORAL_ADDRESS": address_of(dev_env), "ORDERS_DATA_DIR": str(data)}
    task_queue = f"kill-{unique}-{name}"
    dying = [
        spawn_script(SCRIPT, task_queue, "--die-in", step, "--when", when, "--tombstone", str(data / "died"), env=env)
        for _ in range(processes)
    ]
    survivor = None
    try:
        await asyncio.gather(*(read_until(process, "serving") for process in dying))
        fields = dict(journey.order)
        product, quantity, price = fields.pop("product_id"), fields.pop("quantity"), fields.pop("unit_price")
        order = one_line_order(f"KILL-{unique}-{name}", product, quantity, price, **fields)
        handle = await start_order(dev_env.client, order, task_queue=task_queue)
        if journey.decision:
            await wait_for_status(handle, journey.waits_at, seconds=60)
            update, argument = {
                "approve": (OrderWorkflow.approve_payment, ApprovePayment(approver="ops")),
                "reject": (OrderWorkflow.reject_payment, RejectPayment(approver="ops", reason="no")),
                "cancel": (OrderWorkflow.cancel_order, CancelOrder(reason="changed mind")),
            }[journey.decision]
            await handle.start_update(update, argument, wait_for_stage=WorkflowUpdateStage.ACCEPTED)

        while (died := next((p for p in dying if p.poll() is not None), None)) is None:
            await asyncio.sleep(0.1)
        died_at = time.monotonic()
        if processes == 1:
            survivor = spawn_script(SCRIPT, task_queue, env=env)
        final = await asyncio.wait_for(handle.result(), timeout=120)
        recovery = time.monotonic() - died_at
        problems = _judged(order, journey, final, ledger, stock_before)
        said = died.stdout.read()
        if died.returncode != -9 or f"dying {when} {step}" not in said:
            problems.append(f"the worker did not die by SIGKILL at the step: exit {died.returncode}, said {said!r}")
        if processes == 2 and all(p.poll() is not None for p in dying):
            problems.append("both worker processes died; one was to carry on")
        closed = await EventStore(dev_env.client).snapshot_of(order.order_id)
        effects = effects_by_workflow_id(ledger.db)
        problems += [d.problem for d in reconcile([closed], effects).discrepancies]
        return Outcome(name, problems, recovery)
    except Exception as err:  # noqa: BLE001 - each case reports its own failure, the test lists them all
        return Outcome(name, [f"{type(err).__name__}: {err}"])
    finally:
        for process in [*dying, survivor]:
            if process and process.poll() is None:
                process.kill()
                process.wait(10)


def _judged(order: OrderInput, journey: Journey, final, ledger: Ledger, stock_before: int) -> list[str]:
    problems = []
    if final.status is not journey.ends:
        problems.append(f"ended {final.status}, not {journey.ends}")
    payments = ledger.db.rows("SELECT status, amount FROM payments")
    if len(payments) != 1:
        problems.append(f"{len(payments)} payments in the ledger, not 1")
    refunds = ledger.db.rows("SELECT amount FROM refunds")
    if refunds != ([(str(order.total_amount),)] if journey.refunded else []):
        problems.append(f"refunds {refunds}")
    shipments = ledger.db.rows("SELECT COUNT(*) FROM shipments")[0][0]
    if shipments != (1 if journey.ends is OrderStatus.FULFILLED else 0):
        problems.append(f"{shipments} shipments")
    shipped = order.items[0].quantity if journey.ends is OrderStatus.FULFILLED else 0
    stock_after = ledger.db.rows("SELECT SUM(on_hand) FROM stock")[0][0]
    if stock_before - stock_after != shipped:
        problems.append(f"stock went from {stock_before} to {stock_after}, {shipped} shipped")
    return problems


async def test_a_worker_killed_at_any_step_leaves_each_effect_done_exactly_once(dev_env, tmp_path, unique):
    at_once = asyncio.Semaphore(CASES_AT_ONCE)

    async def limited(step: str, when: str, processes: int) -> Outcome:
        async with at_once:
            return await run_case(dev_env, tmp_path, unique, step, when, processes)

    outcomes = await asyncio.gather(*(limited(*case) for case in CASES))

    report = "\n".join(
        f"{o.case:32} recovered in {o.recovery_seconds:5.1f} s" if o.recovery_seconds else f"{o.case:32} -"
        for o in outcomes
    )
    print(f"\n{len(outcomes)} kills:\n{report}")
    failures = {o.case: o.problems for o in outcomes if o.problems}
    assert not failures, failures
