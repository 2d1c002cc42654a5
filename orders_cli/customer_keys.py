"""`orders customer-keys rewrap`: every customer's data key wrapped anew by the master key
now first in ORDERS_MASTER_KEYS (after a rotation), re-sealing nothing (docs/personal-data.md)."""

import argparse
import json

from orders_cli.arguments import Subcommands
from programs import CommandError, ExitCode
from storage import CustomerKeys, open_customer_keys, where_of


def register(commands: Subcommands) -> None:
    keys = commands.add("customer-keys", customer_keys_command, writes=("ORDERS_CUSTOMER_KEYS",))
    keys.add_argument("action", choices=("rewrap",), help="rewrap: wrap every data key by the current master key")


async def customer_keys_command(args: argparse.Namespace) -> int:
    settings = args.settings
    if settings.master_keyring is None:
        raise CommandError("ORDERS_MASTER_KEYS is not set: there is no master key to wrap the data keys with")
    found = open_customer_keys(settings.customer_keys, settings.master_keyring)
    if found is None:
        raise CommandError(f"no customer key store at {where_of(settings.customer_keys)}: nothing to rewrap")
    found.close()
    store = CustomerKeys(settings.customer_keys, settings.master_keyring)
    try:
        rewrapped, total = store.rewrap(), store.count()
    finally:
        store.close()
    where = where_of(settings.customer_keys)
    if args.json:
        print(
            json.dumps(
                {"key_store": where, "rewrapped": rewrapped, "keys": total, "master": settings.master_keyring.active}
            )
        )
    else:
        print(
            f"Rewrapped {rewrapped} of {total} customer key(s) in {where} under master key"
            f" {settings.master_keyring.active!r}; nothing re-sealed."
        )
    return ExitCode.OK
