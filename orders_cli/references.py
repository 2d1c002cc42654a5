"""`orders customer-ref`: what the server holds for a customer id, to filter orders by."""

import argparse

from connection import SettingsError
from encryption import customer_ref
from orders_cli.arguments import Subcommands
from programs import ExitCode


def register(commands: Subcommands) -> None:
    reference = commands.add(
        "customer-ref",
        customer_ref_command,
        json=False,
    )
    reference.add_argument("customer_id")


async def customer_ref_command(args: argparse.Namespace) -> int:
    key = args.settings.customer_id_key
    if key is None:
        raise SettingsError("ORDERS_CUSTOMER_ID_KEY is not set: the server holds customer ids as they are")
    print(customer_ref(key, args.customer_id))
    return ExitCode.OK
