"""`orders reconcile`: the event streams held against the ledger of side effects.

After an incident, operators of an event-sourced system check that what the streams say
happened is what the outside world did, and back: every charge recorded has its payment
and every payment its event; every refund in an OrderCancelled has its refund and back;
every reservation of a closed order shipped or released; every shipment has its
OrderFulfilled. Orders still running are counted, not judged: an effect may be done
while its event is not yet recorded. A ledger row that names no order at all is judged.
"""

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

from activities import LedgerDatabase, OrderEffects, effects_by_workflow_id, workflow_ids_with_effects
from contract import order_id_of, workflow_id_for
from domain import OrderSnapshot, OrderStatus, PaymentStatus
from eventstore import EventStore, FoundSnapshot
from orders_cli.arguments import Subcommands
from orders_cli.sources import event_store, progress_on_stderr, say_how_many_archived, temporal
from programs import CommandError, DatabaseToRead, ExitCode
from storage import SeenIds

_LISTED_UP_TO = 50


@dataclass(frozen=True)
class Discrepancy:
    order_id: str
    problem: str


@dataclass
class Reconciliation:
    orders: int = 0
    running: int = 0  # counted, not judged
    effects: Counter[str] = field(default_factory=Counter)
    discrepancies: list[Discrepancy] = field(default_factory=list)

    def judge(self, order: FoundSnapshot, effects: OrderEffects) -> None:
        """What an order's events record against its effects (a running order's are counted only)."""
        self.orders += 1
        self.effects.update(_counted(effects))
        if order.running:
            self.running += 1
            return
        snapshot = order.snapshot
        self.discrepancies += [Discrepancy(snapshot.order_id, p) for p in _problems(snapshot, effects)]

    def judge_unowned(self, workflow_id: str, effects: OrderEffects) -> None:
        """Effects of a workflow id no order has."""
        self.effects.update(_counted(effects))
        order_id = order_id_of(workflow_id) or workflow_id
        self.discrepancies.append(
            Discrepancy(order_id, f"the ledger holds {_described(effects)} but no such order exists")
        )


def reconcile(orders: Iterable[FoundSnapshot], ledger: dict[str, OrderEffects]) -> Reconciliation:
    """Every closed order's stream against its effects, and every effect against an order."""
    result = Reconciliation()
    known: set[str] = set()
    for order in orders:
        workflow_id = workflow_id_for(order.snapshot.order_id)
        known.add(workflow_id)
        result.judge(order, ledger.get(workflow_id, OrderEffects()))
    for workflow_id, effects in sorted(ledger.items()):
        if workflow_id not in known:
            result.judge_unowned(workflow_id, effects)
    return result


async def reconcile_shop(
    store: EventStore, ledger: LedgerDatabase, query: str | None, on_progress: Callable[[int, int], None]
) -> Reconciliation:
    """`reconcile` over a shop of any size, in flat memory: each order's snapshot as it is
    read (folded from its history, or as archived), a window at a time against the
    window's effects; then the ledger's workflow ids, a page at a time, against the orders
    seen (kept on disk). Effects of orders the query left out are not judged; effects of
    no order at all are."""
    result = Reconciliation()
    window: list[FoundSnapshot] = []

    async def judge_window() -> None:
        ids = [workflow_id_for(order.snapshot.order_id) for order in window]
        effects = await asyncio.to_thread(effects_by_workflow_id, ledger, ids)
        for workflow_id, order in zip(ids, window, strict=True):
            result.judge(order, effects.get(workflow_id, OrderEffects()))
        seen.add(ids)
        window.clear()

    with SeenIds() as seen:
        async for order in store.snapshots(query, on_progress):
            window.append(order)
            if len(window) == _WINDOW:
                await judge_window()
        await judge_window()
        unowned: list[str] = []
        pages = workflow_ids_with_effects(ledger)
        while page := await asyncio.to_thread(next, pages, None):
            outside = seen.unseen(page)
            seen.add(outside)  # each workflow id once, whichever tables hold its effects
            elsewhere = await store.existing(outside)
            unowned += [workflow_id for workflow_id in outside if workflow_id not in elsewhere]
    unowned.sort()
    for start in range(0, len(unowned), _WINDOW):
        ids = unowned[start : start + _WINDOW]
        effects = await asyncio.to_thread(effects_by_workflow_id, ledger, ids)
        for workflow_id in ids:
            result.judge_unowned(workflow_id, effects[workflow_id])
    return result


_WINDOW = 256  # orders judged at a time: one ledger lookup each


def _problems(snapshot: OrderSnapshot, effects: OrderEffects) -> list[str]:
    recorded, state = snapshot.effects, snapshot.state
    problems: list[str] = []

    if recorded.payment_id is not None and effects.charge is None:
        problems.append(f"PaymentProcessed {recorded.payment_id} is in the stream, but the ledger has no payment")
    elif effects.charge is not None and recorded.payment_id is None:
        payment_id, amount, status = effects.charge
        problems.append(f"the ledger has payment {payment_id} ({amount} {status}), but the stream records none")
    elif effects.charge is not None:
        payment_id, amount, status = effects.charge
        if recorded.payment_id != payment_id:
            problems.append(f"the stream's payment is {recorded.payment_id}, the ledger's {payment_id}")
        if recorded.payment_amount != amount:
            problems.append(f"payment {payment_id}: the stream says {recorded.payment_amount}, the ledger {amount}")
        if state.payment_status is not None and state.payment_status.value != status:
            problems.append(f"payment {payment_id}: the stream ends {state.payment_status.value}, the ledger {status}")

    paid_back = sum((amount for _, amount in effects.refunds), Decimal(0))
    if recorded.refunded != paid_back:
        problems.append(f"refunds: the stream records {recorded.refunded}, the ledger {paid_back}")

    reserved = recorded.reserved
    if sorted(map(repr, reserved)) != sorted(map(repr, effects.reserved)):
        problems.append(f"reservations: the stream records {len(reserved)} line(s), the ledger {len(effects.reserved)}")
    shipped = recorded.fulfillment_id
    if shipped and effects.shipment != shipped:
        problems.append(
            f"OrderFulfilled {shipped} is in the stream, "
            f"the ledger has {f'shipment {effects.shipment}' if effects.shipment else 'no shipment'}"
        )
    elif effects.shipment and not shipped:
        problems.append(f"the ledger shipped {effects.shipment}, but the stream records no OrderFulfilled")
    if effects.held and state.status is not OrderStatus.FULFILLED:
        problems.append(f"closed {state.status} with {len(effects.held)} reserved line(s) never released")

    charge_status = effects.charge[2] if effects.charge else None
    if charge_status == PaymentStatus.COMPLETED.value and effects.shipment is None and not effects.refunds:
        problems.append("closed holding a completed charge with neither a shipment nor a refund")
    elif charge_status == PaymentStatus.PENDING.value:
        problems.append("closed holding an authorisation never captured nor voided")
    return problems


def _counted(effects: OrderEffects) -> Counter[str]:
    return Counter(
        {
            "charges": int(effects.charge is not None),
            "refunds": len(effects.refunds),
            "reserved lines": len(effects.reserved),
            "shipments": int(effects.shipment is not None),
        }
    )


def _described(effects: OrderEffects) -> str:
    parts = []
    if effects.charge:
        payment_id, amount, status = effects.charge
        parts.append(f"payment {payment_id} ({amount} {status})")
    parts += [f"refund of {amount} on {payment_id}" for payment_id, amount in effects.refunds]
    if effects.reserved:
        parts.append(f"{len(effects.reserved)} reserved line(s)")
    if effects.shipment:
        parts.append(f"shipment {effects.shipment}")
    return ", ".join(parts) or "nothing"


def register(commands: Subcommands) -> None:
    reconciling = commands.add(
        "reconcile",
        reconcile_command,
    )
    reconciling.add_argument("--query", help="a visibility query choosing the orders (default: every order)")
    reconciling.add_argument(
        "--ledger",
        type=DatabaseToRead("ledger database"),
        metavar="PATH|DSN",
        help="the ledger: a SQLite file or a postgresql:// DSN (default: ORDERS_LEDGER, else ORDERS_DATA_DIR's)",
    )


async def reconcile_command(args: argparse.Namespace) -> int:
    target: Path | str = args.ledger or args.settings.ledger
    if isinstance(target, Path) and not target.is_file():
        raise CommandError(f"no ledger at {target} (set ORDERS_LEDGER or ORDERS_DATA_DIR, or pass --ledger PATH)")
    # Reconciling reads the ledger only: it may be a copy on read-only media.
    ledger = LedgerDatabase(target, read_only=True)
    try:
        async with temporal(args.settings) as client:
            store = event_store(client, args.settings)
            progress = progress_on_stderr("Reading histories")
            result = await reconcile_shop(store, ledger, args.query, progress)
    finally:
        ledger.close()
    say_how_many_archived(store)
    if args.json:
        print(json.dumps({**asdict(result), "effects": dict(result.effects)}, indent=2))
    else:
        print(_rendered(result, ledger.where))
    return ExitCode.FAILED if result.discrepancies else ExitCode.OK


def _rendered(result: Reconciliation, ledger: str) -> str:
    effects = ", ".join(f"{count} {kind}" for kind, count in result.effects.items())
    lines = [
        f"{result.orders} order(s) held against {ledger} ({effects or 'no effects'}); "
        f"{result.running} still running, not judged",
    ]
    if not result.discrepancies:
        return "\n".join([*lines, "No discrepancies."])
    lines += ["", f"{len(result.discrepancies)} discrepancies:"]
    lines += [f"  {d.order_id}: {d.problem}" for d in result.discrepancies[:_LISTED_UP_TO]]
    if len(result.discrepancies) > _LISTED_UP_TO:
        lines.append(f"  … and {len(result.discrepancies) - _LISTED_UP_TO} more (--json lists them all)")
    lines.append("  each order's story: orders events ORDER_ID")
    return "\n".join(lines)
