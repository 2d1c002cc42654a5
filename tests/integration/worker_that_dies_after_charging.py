"""A worker whose payment gateway charges, then hangs before the activity can report
back: the moment a real worker dies in. Run as a process by the crash test, which
kills it with SIGKILL once the charge is in the ledger."""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from activities.ledger import LedgerDatabase, LedgerFraudScreen, LedgerInventory, LedgerPaymentGateway, LedgerShipping
from activities.order_activities import OrderActivities
from connection import connect, load_settings
from contract import TASK_QUEUE
from hosting import build_worker


class GatewayThatHangsAfterCharging(LedgerPaymentGateway):
    async def charge(self, idempotency_key, customer_id, amount):
        charge = await super().charge(idempotency_key, customer_id, amount)
        print("charged", charge.payment_id, flush=True)
        await asyncio.Event().wait()  # never returns: the worker is about to be killed


async def main() -> None:
    settings = load_settings()
    db = LedgerDatabase(settings.ledger)
    activities = OrderActivities(
        GatewayThatHangsAfterCharging(db), LedgerInventory(db), LedgerShipping(db), LedgerFraudScreen(db)
    )
    async with build_worker(await connect(settings), TASK_QUEUE, activities=activities):
        print("serving", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
