"""What crosses the wire: the order input and the event envelope as plain JSON."""

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from contract import RECEIVED
from domain import EventEnvelope, OrderInput, OrderStatus, OrderValidated, ValidationResult, describe_validation_error
from tests.builders import envelope, received

ORDER_JSON = {
    "order_id": "ORDER-9",
    "customer_id": "C-1",
    "total_amount": 150.50,
    "items": [{"product_id": "P-1", "quantity": 2, "unit_price": 75.25}],
}


def problems(data) -> str:
    with pytest.raises(ValidationError) as caught:
        OrderInput.model_validate(data)
    return describe_validation_error(caught.value)


def test_plain_json_numbers_become_exact_money():
    order = OrderInput.model_validate_json(json.dumps(ORDER_JSON))
    assert order.total_amount == Decimal("150.50")
    assert order.items[0].unit_price == Decimal("75.25")


def test_money_is_written_as_a_string_so_no_client_rounds_it():
    order = OrderInput.model_validate(ORDER_JSON)
    assert json.loads(order.model_dump_json())["total_amount"] == "150.5"


def test_business_rule_violations_pass_the_door_to_become_validation_errors():
    order = OrderInput.model_validate(
        {**ORDER_JSON, "total_amount": -3, "items": [{"product_id": "P-1", "quantity": -1, "unit_price": 0}]}
    )
    assert order.items[0].quantity == -1


def test_a_missing_field_is_named():
    data = dict(ORDER_JSON)
    del data["customer_id"]
    assert problems(data) == "customer_id: Field required"


def test_a_wrong_type_is_named_with_its_path():
    data = {**ORDER_JSON, "items": [{"product_id": "P-1", "quantity": "two", "unit_price": 1}]}
    assert problems(data).startswith("items.0.quantity: Input should be a valid integer")


def test_every_broken_field_is_named():
    text = problems({"order_id": "", "total_amount": "lots", "items": "none"})
    for field in ("order_id", "customer_id", "total_amount", "items"):
        assert f"{field}:" in text


def test_an_unknown_field_is_refused_so_typos_do_not_pass_silently():
    assert problems({**ORDER_JSON, "totl_amount": 1}) == "totl_amount: Extra inputs are not permitted"


def test_not_a_number_is_not_money():
    assert problems({**ORDER_JSON, "total_amount": "NaN"}).startswith("total_amount:")


def test_an_envelope_round_trips_through_json_and_reads_its_data_by_event_type():
    original = envelope(received(), 1)
    copy = EventEnvelope.model_validate_json(original.model_dump_json())
    assert copy == original
    assert type(copy.data).__name__ == "OrderReceived"


def test_an_envelope_whose_event_type_does_not_match_its_data_is_refused():
    data = json.loads(envelope(received(), 1).model_dump_json())
    data["event_type"] = "OrderValidated"
    with pytest.raises(ValidationError, match="validation_result"):
        EventEnvelope.model_validate(data)


def test_an_envelope_of_an_unknown_event_type_is_refused():
    data = json.loads(envelope(received(), 1).model_dump_json())
    data["event_type"] = "OrderTeleported"
    with pytest.raises(ValidationError, match="unknown event_type 'OrderTeleported'"):
        EventEnvelope.model_validate(data)


def test_an_envelope_built_in_code_must_name_its_data():
    event = OrderValidated(order_id="ORDER-1", validation_result=ValidationResult(is_valid=True))
    good = envelope(event, 2)
    with pytest.raises(ValidationError, match="does not match data"):
        EventEnvelope(**{**good.__dict__, "event_type": "OrderReceived"})


def test_the_contracts_first_status_is_the_domains():
    assert OrderStatus.RECEIVED.value == RECEIVED
