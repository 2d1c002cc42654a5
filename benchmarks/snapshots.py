"""What a snapshot saves on a long stream, as a ratio against folding from the first
event, measured in the same process.

    python benchmarks/snapshots.py [--events 5000] [--every 50]

Orders themselves are short (3 to 7 events), so the stream here is built for the purpose:
an order received, then payment attempts recorded one after another. Both reads go
through the same code `EventStore.state_at` uses: `state_from_snapshot`, once with no
snapshot and once with the nearest one the read models keep (read from SQLite and parsed,
as a real read does).
"""

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain import (
    EventEnvelope,
    OrderItem,
    OrderReceived,
    OrderStream,
    PaymentProcessed,
    PaymentStatus,
    state_from_snapshot,
)
from projections import ReadModels

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def long_stream(order_id: str, events: int) -> OrderStream:
    def envelope(event: OrderReceived | PaymentProcessed, version: int) -> EventEnvelope:
        return EventEnvelope(
            event_id=uuid.uuid4(), stream_id=order_id, event_type=type(event).__name__, version=version,
            schema_version=event.SCHEMA_VERSION, correlation_id="bench", causation_id="bench", created_by="bench",
            created_at=T0 + timedelta(seconds=version), data=event,
        )  # fmt: skip

    received = OrderReceived(
        order_id=order_id,
        customer_id="CUSTOMER-1",
        items=(OrderItem(product_id="PROD-1", quantity=1, unit_price=Decimal("10.00")),),
        total_amount=Decimal("10.00"),
    )
    attempts = (
        PaymentProcessed(
            order_id=order_id, payment_id=f"PAY-{n}", amount=Decimal("10.00"), status=PaymentStatus.PENDING
        )
        for n in range(events - 1)
    )
    return OrderStream(order_id, (envelope(received, 1), *(envelope(event, n) for n, event in enumerate(attempts, 2))))


def median_seconds(action, rounds: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000, help="events in the stream (default 5000)")
    parser.add_argument("--every", type=int, default=50, help="snapshot every K versions (default 50)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    stream = long_stream("LONG-1", args.events)
    with tempfile.TemporaryDirectory() as scratch:
        models = ReadModels(Path(scratch) / "projections.sqlite", snapshot_every=args.every)
        started = time.perf_counter()
        models.apply(stream, closed=True)
        projecting = time.perf_counter() - started
        print(f"A stream of {stream.version} events; snapshots every {args.every} versions and at its end.")
        print(f"Projecting it once (every row, aggregate and snapshot): {projecting:.2f} s\n")
        print(f"{'state at version':<18} {'full fold':>10} {'from snapshot':>14} {'ratio':>8}")
        for version in (stream.version, stream.version - args.every // 2, stream.version // 2, args.every - 1):

            def full(version: int = version) -> object:
                return state_from_snapshot(stream.order_id, stream.envelopes, version)

            def snapshotted(version: int = version) -> object:
                snapshot = models.nearest(stream.order_id, version)
                return state_from_snapshot(stream.order_id, stream.envelopes, version, snapshot)

            assert full() == snapshotted()
            whole, quick = median_seconds(full, args.rounds), median_seconds(snapshotted, args.rounds)
            print(f"{version:<18} {1000 * whole:>8.1f}ms {1000 * quick:>12.2f}ms {whole / quick:>7.0f}x")


if __name__ == "__main__":
    main()
