"""Files of orders: a JSON order, a JSON list of orders, or JSON Lines (one order a line).
Every order in a file is checked before any is started: one malformed order, and the
file is refused with every problem named (the first twenty)."""

import json
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from pydantic import ValidationError

from domain import OrderInput, describe_validation_error

# The tutorial's three orders, what `python starter.py` starts.
TUTORIAL_ORDERS = Path(__file__).resolve().parents[1] / "examples" / "tutorial-orders.json"
_LISTED_UP_TO = 20


class OrderFileError(Exception):
    """A file of orders that cannot be started; the message names the file and the field."""


# -- Reading orders ------------------------------------------------------------------------


def parse_orders(entries: Iterable[tuple[str, object]]) -> list[OrderInput]:
    """(where, entry) pairs into orders; every problem is collected before any is raised."""
    orders: list[OrderInput] = []
    problems: list[str] = []
    seen: set[str] = set()
    for where, entry in entries:
        label = where
        if isinstance(entry, dict) and isinstance(entry.get("order_id"), str):
            label += f" ({entry['order_id'][:64]})"
        try:
            order = OrderInput.model_validate(entry)
        except ValidationError as err:
            problems.append(f"{label}: {describe_validation_error(err)}")
            continue
        if order.order_id in seen:
            problems.append(f"{label}: order_id {order.order_id!r} appears more than once")
        seen.add(order.order_id)
        orders.append(order)
    if problems:
        shown = problems[:_LISTED_UP_TO]
        if len(problems) > len(shown):
            shown.append(f"… and {len(problems) - len(shown)} more problems")
        raise OrderFileError("\n".join(shown))
    if not orders:
        raise OrderFileError("no orders to start")
    return orders


def load_orders(path: Path) -> list[OrderInput]:
    """A JSON order, a JSON list of orders, or JSON Lines (one order a line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise OrderFileError(f"{path}: cannot read it: {err}") from None
    try:
        # Decimal, not float: 150.10 must stay 150.10.
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as err:
        if path.suffix != ".jsonl" and not (err.msg == "Extra data" and text.lstrip().startswith("{")):
            raise OrderFileError(
                f"{path}: not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
            ) from None
        return _parse(path, _json_lines(path, text))
    entries = document if isinstance(document, list) else [document]
    return _parse(path, ((f"order {n}", entry) for n, entry in enumerate(entries, start=1)))


def _json_lines(path: Path, text: str) -> Iterable[tuple[str, object]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as err:
            raise OrderFileError(f"{path}: line {number}: not valid JSON: {err.msg}, column {err.colno}") from None


def _parse(path: Path, entries: Iterable[tuple[str, object]]) -> list[OrderInput]:
    try:
        return parse_orders(entries)
    except OrderFileError as err:
        raise OrderFileError("\n".join(f"{path}: {line}" for line in str(err).splitlines())) from None
