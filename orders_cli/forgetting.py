"""`orders forget CUSTOMER_ID --requested-by WHO [--cancel-open]`: a person's personal data
erased from every copy at once, by deleting their data key (docs/privacy.md).

In this order: the customer is marked as being forgotten in the key store (no new order of
theirs is sealed from then on: a starter refuses it in one line); their open orders are
found in visibility and refused, or with --cancel-open cancelled, compensated as any cancel,
and waited for; then their key is deleted and the forgetting recorded (when, by whom, how
many orders, nothing personal) in one transaction. Killed at any moment, the customer is
remembered (marked, if it got that far: run it again to finish) or forgotten, never half.
Stopped by a signal or refused, the mark is taken back.
"""

import argparse
import json
from datetime import timedelta

from temporalio.client import Client

from connection import Settings
from contract import workflow_id_for
from domain import CancelOrder
from encryption import customer_ref
from orders_cli.arguments import Subcommands
from orders_cli.decisions import DecisionRefused, decide
from orders_cli.sources import temporal
from programs import CommandError, ExitCode
from storage import KEY_CACHE_SECONDS, CustomerKeys, Forgotten, open_customer_keys, where_of

# Characters a customer id must not hold to be looked up in visibility (its query language
# quotes with them) or printed in one line.
_UNLOOKABLE = set("'\"\\`")
_MAX_ID = 256


def customer_id(text: str) -> str:
    if not 1 <= len(text) <= _MAX_ID or not text.isprintable() or _UNLOOKABLE & set(text):
        raise argparse.ArgumentTypeError(
            f"{text[:64]!r} is not a customer id forget can look orders up by: 1 to {_MAX_ID} printable characters,"
            " no quotes or backslashes"
        )
    return text


def requester(text: str) -> str:
    if not 1 <= len(text) <= _MAX_ID or not text.isprintable():
        raise argparse.ArgumentTypeError(f"{text[:64]!r} is not who asked: 1 to {_MAX_ID} printable characters")
    return text


def register(commands: Subcommands) -> None:
    forget = commands.add("forget", forget_command, writes=("ORDERS_CUSTOMER_KEYS",))
    forget.add_argument("customer_id", type=customer_id, metavar="CUSTOMER_ID")
    forget.add_argument("--requested-by", required=True, type=requester, metavar="WHO", help="who asked for it")
    forget.add_argument(
        "--cancel-open", action="store_true", help="cancel the customer's open orders first (compensated as any cancel)"
    )


async def forget_command(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    customer = args.customer_id
    found = open_customer_keys(settings.customer_keys, settings.master_keyring)
    if found is None:
        raise CommandError(f"no customer key store at {where_of(settings.customer_keys)}: nobody to forget")
    found.close()
    store = CustomerKeys(settings.customer_keys, settings.master_keyring)
    try:
        if store.forgetting(customer, marked=True) is None:
            raise CommandError(_nothing_to_forget(store, customer))
        args.on_interrupt = f"customer {customer!r} is remembered, as before"
        try:
            async with temporal(settings) as client:
                query = f"CustomerId = '{_as_indexed(settings, customer)}'"
                await _close_open_orders(
                    client, settings, customer, query, cancel=args.cancel_open, by=args.requested_by
                )
                orders = (await client.count_workflows(query)).count
        except BaseException:
            store.forgetting(customer, marked=False)  # refused or stopped: remembered, as before
            raise
        done = store.forget(customer, args.requested_by, orders)
        if done is None:  # forgotten by another `forget` meanwhile
            raise CommandError(_nothing_to_forget(store, customer))
    finally:
        store.close()
    _say(done, store.where, as_json=args.json)
    return ExitCode.OK


def _nothing_to_forget(store: CustomerKeys, customer: str) -> str:
    earlier = store.forgotten(customer)
    if earlier:
        last = earlier[-1]
        return (
            f"customer {customer!r} was forgotten already, on {last.forgotten_at:%Y-%m-%d %H:%M} UTC at the request of"
            f" {last.requested_by} ({last.orders} order(s)), and has no key since: nothing left to forget"
        )
    return f"no customer {customer!r} in the key store at {store.where}: nothing to forget"


def _as_indexed(settings: Settings, customer: str) -> str:
    """The customer as the CustomerId search attribute holds them."""
    key = settings.customer_id_key
    return customer_ref(key, customer) if key else customer


async def _close_open_orders(
    client: Client, settings: Settings, customer: str, query: str, *, cancel: bool, by: str
) -> None:
    open_orders = [
        execution.id.removeprefix("order-")
        async for execution in client.list_workflows(f"{query} AND ExecutionStatus = 'Running'")
    ]
    if open_orders and not cancel:
        raise CommandError(
            f"customer {customer!r} has {len(open_orders)} open order(s): {', '.join(sorted(open_orders)[:10])};"
            " let them close, or forget with --cancel-open"
        )
    reason = CancelOrder(reason=f"the customer asked to be forgotten ({by})", requested_by=by)
    for order_id in sorted(open_orders):
        try:
            await decide(client, order_id, reason, settings.decision_timeout)
        except DecisionRefused as refused:
            raise CommandError(
                f"order {order_id} of customer {customer!r} cannot be cancelled ({refused}): it finishes as it stands,"
                " and needs their address to; forget them once it has closed"
            ) from None
        await client.get_workflow_handle(workflow_id_for(order_id)).result(rpc_timeout=timedelta(minutes=5))


def _say(done: Forgotten, where: str, *, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "customer_id": done.customer_id,
                    "key_id": done.key_id,
                    "forgotten_at": done.forgotten_at.isoformat(),
                    "requested_by": done.requested_by,
                    "orders": done.orders,
                    "key_store": where,
                    "keys_cached_for_seconds": KEY_CACHE_SECONDS,
                }
            )
        )
        return
    print(
        f"Forgot customer {done.customer_id!r}: their key {done.key_id} is deleted from {where}, and with it every"
        f" copy of their personal data; {done.orders} order(s), whose events stay. Requested by {done.requested_by}."
        f" Processes that looked the key up stop opening it within {KEY_CACHE_SECONDS:g} s."
    )
