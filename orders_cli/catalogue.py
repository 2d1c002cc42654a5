"""Every subcommand of `orders`: its name, the module that registers and runs it, and its
synopsis for `orders --help`. A module is imported only when one of its subcommands is
chosen (`orders events X` loads neither the codec server's HTTP nor PostgreSQL's client),
so `orders --help` is listed from here, and each module registers its own flags."""

from typing import NamedTuple


class Entry(NamedTuple):
    module: str
    synopsis: str


CATALOGUE: dict[str, Entry] = {
    "events": Entry("orders_cli.reads", "an order's audit trail, from its history"),
    "state": Entry("orders_cli.reads", "an order's state, now or at a past version or time"),
    "report": Entry("orders_cli.reads", "the order-summary projection over all orders"),
    "approve": Entry("orders_cli.decisions", "approve a payment waiting for approval"),
    "reject": Entry("orders_cli.decisions", "reject a payment waiting for approval"),
    "cancel": Entry("orders_cli.decisions", "cancel an order before it is fulfilled"),
    "replay": Entry(
        "orders_cli.replaying", "replay orders with today's workflow code: OK, or where it diverged (non-zero exit)"
    ),
    "reconcile": Entry(
        "orders_cli.reconcile", "hold the event streams against the ledger of side effects; exit 1 if any discrepancy"
    ),
    "projector": Entry(
        "orders_cli.projecting",
        "keep the read models current (run), rebuild them from zero, or show their lag (status)",
    ),
    "export": Entry(
        "orders_cli.exporting",
        "every domain event of every order as JSON Lines (one envelope a line); incremental with --checkpoint",
    ),
    "deploy": Entry(
        "orders_cli.deploying",
        "make a build current (or ramp to it): new orders go to it, open ones stay where they are",
    ),
    "deployments": Entry(
        "orders_cli.deploying",
        "each build with its workers and open orders, and whether it has drained (can be stopped)",
    ),
    "archive": Entry(
        "orders_cli.archiving",
        "copy closed orders to the archive before Temporal's retention deletes them (--verify: check it;"
        " compact: drop old raw histories, or old events down to snapshots; import: Temporal Cloud's exports)",
    ),
    "health": Entry(
        "orders_cli.health",
        "is the system healthy? exit 0 healthy, 1 degraded (each reason named), 3 Temporal unreachable",
    ),
    "codec-server": Entry(
        "orders_cli.codec_server",
        "decode payloads for the Web UI and the temporal CLI: decrypted, and personal data opened with the key store",
    ),
    "forget": Entry(
        "orders_cli.forgetting",
        "erase a customer's personal data from every copy at once: their data key deleted (--cancel-open)",
    ),
    "customer-keys": Entry(
        "orders_cli.customer_keys",
        "rewrap: every customer's data key wrapped by the master key now first in ORDERS_MASTER_KEYS",
    ),
    "customer-ref": Entry(
        "orders_cli.references", "what the server holds for a customer id under ORDERS_CUSTOMER_ID_KEY, to filter by"
    ),
}
