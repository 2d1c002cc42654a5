"""Whatever passes the door fits everywhere it lands, and the rules can judge it.

Fuzzed with hypothesis: orders built from extreme values (numbers past any float,
strings of many-byte characters, thousands of lines) either are refused with the field
named, or fit every Temporal limit an order meets and validate without raising.
"""

import json
import math
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contract import workflow_id_for
from domain import OrderInput, describe_validation_error, validate_order
from domain.decisions import MAX_REASON_LENGTH, ApprovePayment, CancelOrder, RejectPayment

# What Temporal accepts where an order's values land.
KEYWORD_SEARCH_ATTRIBUTE_BYTES = 2_048
WORKFLOW_ID_CHARACTERS = 1_000

numbers = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=Decimal("-1e13"), max_value=Decimal("1e13"), places=2),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False),
    st.sampled_from(["1e400", "-1e400", "1e999999", "1E-999999999", "0.30000000000000004", "1e12", "75.25"]),
).map(lambda value: str(value) if isinstance(value, Decimal) else value)
texts = st.one_of(
    st.text(min_size=1, max_size=300),
    st.sampled_from(["€" * 700, "C" * 2047 + "é", "PROD-001", "a b", "\x00"]),
    st.integers(min_value=1, max_value=3_000).map(lambda n: "x" * n),
)
lines = st.fixed_dictionaries(
    {"product_id": texts, "quantity": st.integers(min_value=-(10**12), max_value=10**12), "unit_price": numbers}
)
orders = st.fixed_dictionaries(
    {
        "order_id": texts,
        "customer_id": texts,
        "total_amount": numbers,
        "items": st.lists(lines, max_size=5) | st.lists(lines, min_size=999, max_size=1_002).map(list),
    },
    optional={"correlation_id": texts, "approval_timeout": st.integers(min_value=-10, max_value=10**12)},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(orders)
def test_an_order_that_passes_the_door_fits_every_limit_it_meets(data):
    try:
        order = OrderInput.model_validate_json(json.dumps(data))
    except ValidationError as refused:
        assert len(describe_validation_error(refused)) < 2_000
        return
    assert len(order.customer_id.encode()) <= KEYWORD_SEARCH_ATTRIBUTE_BYTES
    assert len(workflow_id_for(order.order_id)) <= WORKFLOW_ID_CHARACTERS
    assert math.isfinite(float(order.total_amount)), "OrderTotal is a Double search attribute"
    validate_order(order.items, order.total_amount)  # never raises: the rules judge every order that got in


def test_the_largest_order_the_door_admits_validates():
    line = {"product_id": "P" * 256, "quantity": 1_000_000_000, "unit_price": "-1000000000000"}
    order = OrderInput.model_validate(
        {"order_id": "O" * 256, "customer_id": "€" * 256, "total_amount": "1000000000000", "items": [line] * 1_000}
    )
    result = validate_order(order.items, order.total_amount)
    assert not result.is_valid


# Decisions: what people send to approve_payment, reject_payment and cancel_order.
anything = st.one_of(texts, numbers, st.none(), st.booleans(), st.lists(st.integers(), max_size=3))
decisions = st.fixed_dictionaries(
    {},
    optional={
        "approver": anything,
        "comment": anything,
        "reason": anything,
        "requested_by": anything,
        "expected_version": st.one_of(st.integers(min_value=-5, max_value=10**20), anything),
        "extra": anything,
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from([ApprovePayment, RejectPayment, CancelOrder]), decisions)
def test_a_decision_that_passes_the_door_fits_the_history_and_a_refused_one_is_named_briefly(model, data):
    try:
        decision = model.model_validate_json(json.dumps(data))
    except ValidationError as refused:
        message = describe_validation_error(refused)
        assert 0 < len(message) < 2_000
        return
    for text in (getattr(decision, name, None) for name in ("approver", "comment", "reason", "requested_by")):
        # Names and reasons are recorded in OrderCancelled, memos and the Web UI.
        assert text is None or (isinstance(text, str) and 0 < len(text) <= MAX_REASON_LENGTH)
    assert decision.expected_version is None or decision.expected_version >= 0
