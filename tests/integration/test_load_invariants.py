"""A thousand mixed orders at once on the dev server, with people approving, rejecting and
cancelling while they run, some racing each other on the same order. Afterwards the
ledger and the streams must agree, order by order (`orders reconcile`), and the shop's
books must balance: stock conserved, each effect done once, nothing left stuck."""

import asyncio
import json
import random
from collections import Counter

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError

from activities.ledger import effects_by_workflow_id
from contract import workflow_id_for
from domain import OrderInput, OrderState, OrderStatus
from domain.decisions import ApprovePayment, CancelOrder, RejectPayment
from eventstore import EventStore
from orders_cli.reconcile import reconcile
from tests.integration.helpers import listed, orders_cli
from tests.orders import one_line_order, wait_for_status
from workflows.order_workflow import OrderWorkflow

ORDERS = 1000
# As the starter does: a bounded number of orders on their way at once.
IN_FLIGHT = 250
DECLINED = "CUSTOMER-DECLINED"


KINDS = {0: "invalid", 1: "declined", 2: "large", 3: "large", 4: "scarce", 5: "cancelled"}


def the_mix(unique: str) -> list[tuple[str, OrderInput]]:
    """(kind, order) for each order: one in twenty of each unusual kind, the rest plain."""
    mix = []
    for n in range(ORDERS):
        order_id, kind = f"LOAD-{unique}-{n}", KINDS.get(n % 20, "plain")
        if kind == "invalid":
            order = one_line_order(order_id, "PROD-001", 0, "10.00")
        elif kind == "declined":
            order = one_line_order(order_id, "PROD-002", 1, "10.00", customer_id=DECLINED)
        elif kind == "large":  # waits for a person's approval
            order = one_line_order(order_id, "PROD-009", 2, "30000.00")
        elif kind == "scarce":  # 10 in stock for 50 orders
            order = one_line_order(order_id, "PROD-010", 1, "99.00")
        else:
            order = one_line_order(order_id, f"PROD-00{1 + n % 8}", 1 + n % 3, "10.00")
        mix.append((kind, order))
    return mix


async def decided(handle: WorkflowHandle, update, argument: object, update_id: str) -> bool:
    """Whether the decision was taken (True) or refused by the order's rules (False).

    A busy server may time the call out before the update finishes; asking again under the
    same update id attaches to the first request, as a careful client does, never a second."""
    for _ in range(10):
        try:
            await handle.execute_update(update, argument, id=update_id)
            return True
        except WorkflowUpdateFailedError:
            return False
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            continue
    raise AssertionError(f"update {update_id} on {handle.id} never answered")


async def decide_on(handle: WorkflowHandle, n: int) -> list[str]:
    """People at work on an order waiting for approval; some decisions race each other."""
    await wait_for_status(handle, OrderStatus.PAYMENT_PENDING, seconds=120)
    approve = ApprovePayment(approver=f"ops-{n % 3}")
    reject = RejectPayment(approver="risk", reason="not this one")
    cancel = CancelOrder(reason="customer changed their mind", requested_by="customer")
    choices = {
        0: [(OrderWorkflow.approve_payment, approve)],
        1: [(OrderWorkflow.reject_payment, reject)],
        2: [(OrderWorkflow.cancel_order, cancel)],
        3: [(OrderWorkflow.approve_payment, approve), (OrderWorkflow.cancel_order, cancel)],
        4: [(OrderWorkflow.approve_payment, approve), (OrderWorkflow.approve_payment, approve)],
        5: [(OrderWorkflow.approve_payment, approve), (OrderWorkflow.reject_payment, reject)],
    }[n % 6]
    taken = await asyncio.gather(
        *(decided(handle, update, arg, f"{handle.id}-decision-{i}") for i, (update, arg) in enumerate(choices))
    )
    return [update.__name__ for (update, _), took in zip(choices, taken, strict=True) if took]


async def test_a_thousand_mixed_orders_with_racing_decisions_leave_the_books_balanced(dev_shop, dev_env, unique):
    ledger = dev_shop.ledger
    await ledger.payments.decline_customer(DECLINED)
    stock_before = dict(ledger.db.rows("SELECT product_id || '@' || warehouse_id, on_hand FROM stock"))
    mix = the_mix(unique)
    in_flight = asyncio.Semaphore(IN_FLIGHT)
    taken_decisions: dict[str, list[str]] = {}
    rng = random.Random(unique)

    async def place(n: int, kind: str, order: OrderInput) -> OrderState:
        async with in_flight:
            return await follow(n, kind, order)

    async def follow(n: int, kind: str, order: OrderInput) -> OrderState:
        handle = await dev_shop.start(order)
        if kind == "cancelled":
            await asyncio.sleep(rng.uniform(0, 0.5))  # anywhere on its way: before, during, too late
            await decided(handle, OrderWorkflow.cancel_order, CancelOrder(reason="oops"), f"{handle.id}-cancel")
        if kind == "large":
            taken_decisions[order.order_id] = await decide_on(handle, n)
        return await asyncio.wait_for(handle.result(), timeout=300)

    ended = await asyncio.gather(*(place(n, kind, order) for n, (kind, order) in enumerate(mix)))

    by_kind: dict[str, Counter[str]] = {}
    for (kind, _), state in zip(mix, ended, strict=True):
        by_kind.setdefault(kind, Counter())[state.status.value] += 1

    # Every order ended, as its kind allows.
    assert by_kind["invalid"] == {"ValidationFailed": ORDERS // 20}, by_kind
    assert by_kind["declined"] == {"PaymentFailed": ORDERS // 20}, by_kind
    assert by_kind["plain"] == {"Fulfilled": sum(1 for kind, _ in mix if kind == "plain")}, by_kind
    assert set(by_kind["scarce"]) == {"Fulfilled", "Cancelled"} and by_kind["scarce"]["Fulfilled"] == 10, by_kind
    assert set(by_kind["cancelled"]) <= {"Fulfilled", "Cancelled"}, by_kind
    # Decisions racing on one order: the order takes them one at a time, by its rules.
    for (kind, order), state in zip(mix, ended, strict=True):
        if kind != "large":
            continue
        taken = taken_decisions[order.order_id]
        assert taken and taken.count("approve_payment") <= 1, (order.order_id, taken)
        shipped = "approve_payment" in taken and "cancel_order" not in taken
        assert state.status is (OrderStatus.FULFILLED if shipped else OrderStatus.CANCELLED), (order.order_id, taken)

    # The books balance.
    ids = {workflow_id_for(order.order_id): state for (_, order), state in zip(mix, ended, strict=True)}
    effects = {key: value for key, value in effects_by_workflow_id(ledger.db).items() if key in ids}
    charged = sum(e.charge[1] for e in effects.values() if e.charge and e.charge[2] == "Completed")
    refunded = sum(amount for e in effects.values() for _, amount in e.refunds)
    fulfilled_totals = sum(s.total_amount for s in ids.values() if s.status is OrderStatus.FULFILLED)
    assert charged - refunded == fulfilled_totals, "money in = the goods that left"
    assert all(not e.charge for w, e in effects.items() if ids[w].status in (OrderStatus.VALIDATION_FAILED,))
    assert all(e.charge[2] == "Failed" for w, e in effects.items() if ids[w].status is OrderStatus.PAYMENT_FAILED)
    stock_after = dict(ledger.db.rows("SELECT product_id || '@' || warehouse_id, on_hand FROM stock"))
    held = Counter()
    for e in effects.values():
        for line in e.held:
            held[f"{line.product_id}@{line.warehouse_id}"] += line.quantity
    assert {k: stock_before[k] - stock_after[k] for k in stock_before} == {k: held[k] for k in stock_before}, (
        "stock conservation: what left the shelves is what is reserved and shipped"
    )
    assert all(len(e.refunds) <= 1 for e in effects.values())

    # Every order closed, no workflow task ever failed, and the streams agree with the
    # ledger order by order.
    selection = f"WorkflowId STARTS_WITH 'order-LOAD-{unique}-'"
    await listed(dev_env.client, f"{selection} AND ExecutionStatus != 'Running'", ORDERS)
    store = EventStore(dev_env.client)
    failed_tasks = 0
    async for history in store.histories(selection):
        failed_tasks += sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events)
    assert failed_tasks == 0
    orders = [order async for order in store.snapshots(selection)]
    assert len(orders) == ORDERS and not any(order.running for order in orders), "no order left running"
    result = reconcile(orders, effects_by_workflow_id(ledger.db))
    assert result.discrepancies == [] and result.running == 0
    assert result.effects["charges"] == sum(1 for e in effects.values() if e.charge)

    cli = await orders_cli(dev_env, "reconcile", "--query", selection, "--ledger", ledger.db.where)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert f"{ORDERS} order(s) held against" in cli.stdout and "No discrepancies." in cli.stdout

    # An operator's nightmare, staged: a refund row lost, an amount altered, a charge from nowhere.
    refunded_order = next(order.order_id for (_, order), state in zip(mix, ended, strict=True) if state.refund_amount)
    shipped_order = next(order.order_id for (kind, order) in mix if kind == "plain")
    with ledger.db.transaction() as db:
        db.execute("DELETE FROM refunds WHERE refund_key = ?", (f"{workflow_id_for(refunded_order)}-refund",))
        db.execute(
            "UPDATE payments SET amount = '1.00' WHERE payment_key = ?", (f"{workflow_id_for(shipped_order)}-payment",)
        )
        db.execute(
            "INSERT INTO payments VALUES (?, 'PAY-GHOST', 'CUSTOMER-X', '5.00', 'Completed', '2026-01-01')",
            (f"order-LOAD-{unique}-GHOST-payment",),
        )
    cli = await orders_cli(dev_env, "reconcile", "--query", selection, "--ledger", ledger.db.where, "--json")
    assert cli.returncode == 1, cli.stdout + cli.stderr
    found = {(d["order_id"], d["problem"]) for d in json.loads(cli.stdout)["discrepancies"]}
    assert any(order_id == refunded_order and "refunds" in problem for order_id, problem in found), found
    assert any(order_id == shipped_order and "the ledger 1.00" in problem for order_id, problem in found), found
    ghost = "the ledger holds payment PAY-GHOST (5.00 Completed) but no such order exists"
    assert (f"LOAD-{unique}-GHOST", ghost) in found, found
    holding = "closed holding a completed charge with neither a shipment nor a refund"
    assert (refunded_order, holding) in found, "the lost refund, seen from the money side too"
    assert len(found) == 4, found
