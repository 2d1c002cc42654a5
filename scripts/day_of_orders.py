"""Write a day of orders as JSON Lines, for `starter.py --file` at volume.

    python scripts/day_of_orders.py orders-10k.jsonl            # 10,000 orders
    python scripts/day_of_orders.py orders-1k.jsonl --orders 1000

The mix: 1 in 100 with a zero quantity (ValidationFailed), 1 in 250 large enough to wait
for approval (60,000.00), the rest shipping (150.50, stocked products). Order ids are
BENCH-DAY-1 … BENCH-DAY-N.
"""

import argparse
import json
from pathlib import Path


def a_day_of_orders(count: int) -> list[dict[str, object]]:
    orders: list[dict[str, object]] = []
    for n in range(1, count + 1):
        quantity, price = 2, "75.25"
        if n % 100 == 0:
            quantity, price = 0, "75.25"  # "Item PROD-001 has zero quantity"
        elif n % 250 == 11:
            quantity, price = 2, "30000.00"  # above 50,000: waits for a person
        product = "PROD-001" if quantity == 0 else f"PROD-00{1 + n % 9}"
        total = f"{quantity * float(price):.2f}" if quantity else "150.50"
        orders.append(
            {
                "order_id": f"BENCH-DAY-{n}",
                "customer_id": f"CUSTOMER-{n % 97}",
                "total_amount": total,
                "items": [{"product_id": product, "quantity": quantity, "unit_price": price}],
            }
        )
    return orders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--orders", type=int, default=10_000)
    args = parser.parse_args()
    with args.path.open("w") as out:
        for order in a_day_of_orders(args.orders):
            out.write(json.dumps(order) + "\n")
    print(f"{args.orders} orders written to {args.path}")


if __name__ == "__main__":
    main()
