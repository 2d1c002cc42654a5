"""Record one golden history per path an order can take, from a real Temporal dev server.

    python scripts/record_golden_histories.py              # every path
    python scripts/record_golden_histories.py approved     # just these

Each path is run with today's code on a fresh dev server and a fresh ledger, exported
with the real `temporal workflow show --output json` (the same JSON the Web UI's
download gives), and written to tests/histories/golden/<path>.json beside
<path>.state.json, the final state the workflow returned. The replay tests replay
every file with the code of the day; rerun this script to add a path or to refresh one
on purpose, never to make a failing replay pass.
"""

import argparse
import asyncio
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from temporalio.client import (  # noqa: E402
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy  # noqa: E402
from temporalio.exceptions import ApplicationError  # noqa: E402

from activities import (  # noqa: E402
    LedgerDatabase,
    LedgerFraudScreen,
    LedgerInventory,
    LedgerPaymentGateway,
    LedgerShipping,
    OrderActivities,
)
from client import start_order  # noqa: E402
from connection import free_local_port, start_embedded_server, temporal_cli_path  # noqa: E402
from contract import SEARCH_ATTRIBUTES, TASK_QUEUE, search_attributes_at_start, workflow_id_for  # noqa: E402
from domain import (  # noqa: E402
    ApprovePayment,
    CancelOrder,
    OrderInput,
    OrderItem,
    OrderState,
    OrderStatus,
    PersonalData,
    RejectPayment,
)
from encryption import seal_value  # noqa: E402
from hosting import build_worker  # noqa: E402
from programs import ExitCode, leave  # noqa: E402
from storage import CustomerKeys  # noqa: E402
from workflows import OrderWorkflow  # noqa: E402

GOLDEN = PROJECT / "tests" / "histories" / "golden"

# Reserving this product fails with a fault nobody planned for, after the charge.
FAULTY_PRODUCT = "PROD-FAULTY"


# Shipping this product takes a few seconds: long enough to ask Temporal to cancel meanwhile.
SLOW_PRODUCT = "PROD-SLOW"
SLOW_SHIPPING_SECONDS = 3


class CarrierSlowWithOneProduct(LedgerShipping):
    async def ship(self, idempotency_key, reservations, deliver_to=None):
        if any(reservation.product_id == SLOW_PRODUCT for reservation in reservations):
            await asyncio.sleep(SLOW_SHIPPING_SECONDS)
        return await super().ship(idempotency_key, reservations, deliver_to=deliver_to)


class WarehouseThatBreaksOnOneProduct(LedgerInventory):
    async def reserve(self, idempotency_key, items):
        if any(item.product_id == FAULTY_PRODUCT for item in items):
            raise ApplicationError("warehouse system rejected the request", type="WarehouseFault", non_retryable=True)
        return await super().reserve(idempotency_key, items)


def order(name: str, product_id: str, quantity: int, unit_price: str, **fields) -> OrderInput:
    price = Decimal(unit_price)
    return OrderInput(
        order_id=f"GOLDEN-{name.upper()}",
        customer_id=fields.pop("customer_id", f"CUSTOMER-{name.upper()}"),
        total_amount=fields.pop("total_amount", quantity * price),
        items=fields.pop("items", (OrderItem(product_id=product_id, quantity=quantity, unit_price=price),)),
        **fields,
    )


async def wait_for(handle: WorkflowHandle, status: OrderStatus) -> None:
    for _ in range(600):
        try:
            if (await handle.query(OrderWorkflow.state)).status is status:
                return
        except Exception:  # noqa: BLE001 - not yet queryable
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{handle.id} never reached {status}")


async def approve(handle: WorkflowHandle) -> None:
    await wait_for(handle, OrderStatus.PAYMENT_PENDING)
    await handle.execute_update(OrderWorkflow.approve_payment, ApprovePayment(approver="ops-lead", comment="golden"))


async def reject(handle: WorkflowHandle) -> None:
    await wait_for(handle, OrderStatus.PAYMENT_PENDING)
    await handle.execute_update(
        OrderWorkflow.reject_payment, RejectPayment(approver="risk-team", reason="card reported stolen")
    )


async def cancel_while_held(handle: WorkflowHandle) -> None:
    await wait_for(handle, OrderStatus.INVENTORY_RESERVED)
    await handle.execute_update(
        OrderWorkflow.cancel_order, CancelOrder(reason="customer changed mind", requested_by="support")
    )


async def nothing(handle: WorkflowHandle) -> None:
    return None


async def cancel_through_temporal_while_held(handle: WorkflowHandle) -> None:
    """What the Web UI's "Request Cancellation" button does."""
    await wait_for(handle, OrderStatus.INVENTORY_RESERVED)
    await handle.cancel()


async def cancel_through_temporal_while_shipping(handle: WorkflowHandle) -> None:
    await wait_for(handle, OrderStatus.INVENTORY_RESERVED)
    await asyncio.sleep(SLOW_SHIPPING_SECONDS / 3)
    await handle.cancel()


async def start_and_cancel_at_once(client: Client, order_input: OrderInput) -> WorkflowHandle:
    """Update-with-start: the cancel travels with the start, in the first workflow task."""
    start = WithStartWorkflowOperation(
        OrderWorkflow.run,
        order_input,
        id=workflow_id_for(order_input.order_id),
        task_queue=TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=search_attributes_at_start(order_input.customer_id, float(order_input.total_amount)),
    )
    await client.start_update_with_start_workflow(
        OrderWorkflow.cancel_order,
        CancelOrder(reason="ordered by mistake", requested_by="customer"),
        start_workflow_operation=start,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    return await start.workflow_handle()


Scenario = tuple[OrderInput, Callable[[WorkflowHandle], Awaitable[None]]]

SCENARIOS: dict[str, Scenario] = {
    "fulfilled": (order("fulfilled", "PROD-001", 2, "75.25"), nothing),
    "large-order-warning": (order("large", "PROD-002", 1, "25000.00"), nothing),
    "failed-fraud-screening": (order("fraud", "PROD-002", 1, "25000.00", customer_id="CUSTOMER-WATCHED"), nothing),
    "invalid": (order("invalid", "PROD-001", 1, "1", items=(), total_amount=Decimal("100.00")), nothing),
    "payment-failed": (order("declined", "PROD-001", 1, "10.00", customer_id="CUSTOMER-DECLINED"), nothing),
    "approved": (order("approved", "PROD-009", 2, "30000.00"), approve),
    "rejected": (order("rejected", "PROD-009", 2, "30000.00"), reject),
    "approval-timeout": (order("timeout", "PROD-009", 2, "30000.00", approval_timeout="PT2S"), nothing),
    "cancelled-with-refund": (
        order("cancelled", "PROD-001", 2, "75.25", cancellation_window="PT1H"),
        cancel_while_held,
    ),
    "out-of-stock": (order("short", "PROD-404", 1, "10.00"), nothing),
    "failed-after-charge": (order("fault", FAULTY_PRODUCT, 1, "10.00"), nothing),
    "cancelled-on-arrival": (order("arrival", "PROD-001", 1, "10.00"), nothing),
    "temporal-cancel-while-held": (
        order("held", "PROD-001", 1, "10.00", cancellation_window="PT1H"),
        cancel_through_temporal_while_held,
    ),
    "temporal-cancel-while-shipping": (
        order("shipping", SLOW_PRODUCT, 1, "10.00"),
        cancel_through_temporal_while_shipping,
    ),
    # Sealed under a key made for the recording (docs/personal-data.md): replay needs none.
    "with-personal-data": (
        order(
            "personal",
            "PROD-001",
            1,
            "10.00",
            personal=PersonalData(name="Ada Golden", email="ada@example.org", address="1 Golden Lane, Springfield"),
        ),
        nothing,
    ),
}
# Scenarios that start their order themselves; the others are started plainly.
STARTS = {"cancelled-on-arrival": start_and_cancel_at_once}


async def record(names: list[str]) -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        server = await start_embedded_server(
            f"127.0.0.1:{free_local_port()}", "default", Path(scratch), SEARCH_ATTRIBUTES
        )
        try:
            db = LedgerDatabase(Path(scratch) / "ledger.sqlite")
            payments, fraud_screen = LedgerPaymentGateway(db), LedgerFraudScreen(db)
            activities = OrderActivities(
                payments, WarehouseThatBreaksOnOneProduct(db), CarrierSlowWithOneProduct(db), fraud_screen
            )
            keys = CustomerKeys(Path(scratch) / "customer-keys.sqlite")
            activities.customer_keys = lambda: keys
            await db.run(lambda c: c.execute("INSERT INTO stock VALUES (?, 'WH-EAST-1', 100)", (SLOW_PRODUCT,)))
            await payments.decline_customer("CUSTOMER-DECLINED")
            await fraud_screen.watch("CUSTOMER-WATCHED", "card used from three countries in an hour")
            async with build_worker(server.client, TASK_QUEUE, activities=activities):
                for name in names:
                    order_input, steer = SCENARIOS[name]
                    await record_one(server.client, server.address, name, sealed(order_input, keys), steer)
        finally:
            await server.stop()


def sealed(order_input: OrderInput, keys: CustomerKeys) -> OrderInput:
    """As a client seals an order's personal data before it starts it."""
    if order_input.personal is None:
        return order_input
    key = keys.keys_for([order_input.customer_id])[order_input.customer_id]
    fields = {
        field: seal_value(key, order_input.customer_id, order_input.order_id, field, value)
        for field, value in order_input.personal.fields()
    }
    return order_input.model_copy(update={"personal": PersonalData(**fields)})


async def record_one(client: Client, address: str, name: str, order_input: OrderInput, steer) -> None:
    if name in STARTS:
        handle = await STARTS[name](client, order_input)
    else:
        # As our clients start orders: through the client door.
        handle = await start_order(client, order_input)
    await steer(handle)
    try:
        state: OrderState = await handle.result()
    except WorkflowFailureError:
        state = await handle.query(OrderWorkflow.state)  # what its history folds to
    exported = subprocess.run(
        [temporal_cli_path(), "workflow", "show", "--workflow-id", handle.id, "--output", "json", "--address", address],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (GOLDEN / f"{name}.json").write_text(exported)
    (GOLDEN / f"{name}.state.json").write_text(state.model_dump_json(indent=2) + "\n")
    print(f"{name}: {state.status.value}, {state.version} events -> {GOLDEN / name}.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", choices=[[], *SCENARIOS], metavar="PATH", help=", ".join(SCENARIOS))
    names = parser.parse_args().paths or list(SCENARIOS)
    asyncio.run(record(names))
    leave(ExitCode.OK)


if __name__ == "__main__":
    main()
