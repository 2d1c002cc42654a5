"""How orders are shown to people: the one place that renders them.

The starter's report, the `orders` command's tables and the Web UI's current details
all say the same things about an order (`order_facts`), each in its own form. Machines
get JSON instead. Pure: imports only the domain, so workflow code may use it too.
"""

from collections.abc import Iterator, Sequence

from domain import (
    EventEnvelope,
    InventoryReserved,
    OrderCancelled,
    OrderFulfilled,
    OrderReceived,
    OrderState,
    OrderStatus,
    OrderSummary,
    OrderValidated,
    PaymentProcessed,
)

# The starter's report: a label column this wide, facts about validation indented under it.
_LABEL_WIDTH = 12


def order_facts(state: OrderState) -> Iterator[tuple[str, str, int]]:
    """(label, value, depth) for what people want to know of an order, in reading order."""
    if state.status is None:
        yield "status", "not started", 0
        return
    yield "validation", "failed" if state.validation_errors else "passed", 0
    for error in state.validation_errors:
        yield "error", error, 1
    for warning in state.warnings:
        yield "warning", warning, 1
    if state.payment_id:
        yield "payment", f"{state.payment_id} ({state.payment_status.value if state.payment_status else '?'})", 0
    else:
        yield "payment", f"skipped: {state.payment_skipped_reason or 'not reached'}", 0
    yield "tracking", state.tracking_number or "-", 0
    if state.cancellation_reason:
        refund = state.refund_amount if state.refund_amount is not None else "none"
        yield "cancelled", f"{state.cancellation_reason}; refund {refund}", 0
    if state.status is OrderStatus.PAYMENT_PENDING:
        yield "decide", f"orders approve {state.order_id} --approver NAME  (or: orders reject / orders cancel)", 0


def order_report(state: OrderState, headline: str, *, link: str | None = None) -> str:
    """The starter's block for one order: a headline, then its facts, label by label."""
    lines = [f"{state.order_id}: {headline}"]
    rows = [*order_facts(state), ("events", str(state.version), 0)]
    if link:
        rows.append(("web ui", link, 0))
    for label, value, depth in rows:
        indent = "  " * (depth + 1)
        lines.append(f"{indent}{label.ljust(_LABEL_WIDTH - 2 * depth)}{value}")
    return "\n".join(lines)


def web_ui_details(state: OrderState) -> str:
    """Markdown for the Web UI's current details of a running order."""
    status = state.status.value if state.status else "Not started"
    lines = [f"**{status}** at version {state.version}", f"Customer {state.customer_id}, total {state.total_amount}"]
    lines += [f"**{label}** {value}" for label, value, _ in order_facts(state)]
    return "\n\n".join(lines)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def summarize_event(envelope: EventEnvelope) -> str:
    """One line saying what the event established."""
    match envelope.data:
        case OrderReceived(customer_id=customer, items=items, total_amount=total):
            lines = ", ".join(
                f"{item.quantity} x {item.product_id} @ {item.unit_price} {item.currency}" for item in items
            )
            return f"{customer} ordered {lines or 'nothing'}; total {total}"
        case OrderValidated(validation_result=result):
            text = "valid" if result.is_valid else "invalid: " + "; ".join(error.message for error in result.errors)
            return text + "".join(f" (warning: {warning.message})" for warning in result.warnings)
        case PaymentProcessed(payment_id=payment_id, amount=amount, status=status):
            return f"payment {payment_id} of {amount}: {status.value}"
        case InventoryReserved(reservations=reservations):
            return ", ".join(f"{r.quantity} x {r.product_id} at {r.warehouse_id}" for r in reservations)
        case OrderFulfilled(fulfillment_id=fulfillment_id, tracking_number=tracking):
            return f"fulfillment {fulfillment_id}, tracking {tracking or '-'}"
        case OrderCancelled(reason=reason, refund_amount=refund):
            return f"cancelled: {reason}; refund {refund if refund is not None else 'none'}"
    return envelope.event_type


def audit_trail(envelopes: Sequence[EventEnvelope], stream: Sequence[EventEnvelope] = ()) -> str:
    """A table of `envelopes`; causes found anywhere in `stream` (the whole stream) show as versions."""
    if not envelopes:
        return "(no events)"
    version_of = {str(envelope.event_id): envelope.version for envelope in [*stream, *envelopes]}
    rows = [
        (
            envelope.version,
            envelope.created_at.isoformat(timespec="milliseconds"),
            envelope.event_type,
            envelope.created_by,
            # An event caused by another event of the stream reads as its version.
            f"v{version_of[envelope.causation_id]}" if envelope.causation_id in version_of else envelope.causation_id,
            summarize_event(envelope),
        )
        for envelope in envelopes
    ]
    return table(("VERSION", "TIME", "TYPE", "CREATED BY", "CAUSED BY", "SUMMARY"), rows)


def order_state(state: OrderState) -> str:
    """Every field of the state, as a table: what time travel shows."""

    def shown(value: object) -> str:
        if value is None or value == ():
            return "-"
        if isinstance(value, tuple):
            return "; ".join(shown(item) for item in value)
        if hasattr(value, "model_dump"):
            return ", ".join(f"{key}={item}" for key, item in value.model_dump().items())
        return str(getattr(value, "value", value))

    return table(("FIELD", "VALUE"), [(field, shown(getattr(state, field))) for field in type(state).model_fields])


def order_summary(summary: OrderSummary) -> str:
    parts = [f"{summary.orders} order(s)", ""]
    parts.append(
        table(("STATUS", "ORDERS", "AMOUNT"), [(s.status.value, s.orders, s.amount) for s in summary.by_status])
    )
    parts += ["", f"Waiting for approval: {len(summary.awaiting_approval)}"]
    if summary.awaiting_approval:
        parts.append(
            table(
                ("ORDER", "CUSTOMER", "AMOUNT", "PAYMENT", "WAITING SINCE"),
                [
                    (
                        o.order_id,
                        o.customer_id,
                        o.amount,
                        o.payment_id,
                        o.waiting_since.isoformat(timespec="seconds") if o.waiting_since else "-",
                    )
                    for o in summary.awaiting_approval
                ],
            )
        )
    parts += ["", "Most frequent validation errors:"]
    if summary.top_validation_errors:
        parts.append(
            table(
                ("ORDERS", "CODE", "FOR EXAMPLE"),
                [(e.orders, e.code.value, e.example) for e in summary.top_validation_errors],
            )
        )
    else:
        parts.append("(none)")
    return "\n".join(parts)
