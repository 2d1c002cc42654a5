"""Personal data shown to whoever runs a reader with the key store at hand: `orders events`
and `orders state` open each sealed field with the customer's key (docs/personal-data.md).
A field that cannot be opened (its key gone, the value altered or moved from another
order) stays sealed in the output, and one line on stderr names the order and the field."""

import sys
from collections.abc import Callable
from typing import TypeVar

from connection import Settings
from domain import EventEnvelope, OrderReceived, OrderState, PersonalData
from encryption import DataKey, opened_fields
from storage import KeyStoreError, open_customer_keys

Shown = TypeVar("Shown", EventEnvelope, OrderState)


def with_personal_opened(shown: list[Shown], settings: Settings) -> list[Shown]:
    """`shown` with every personal field opened where the key store holds its key."""
    if not any(_personal(item) for item in shown):
        return shown
    keys = None
    try:
        keys = open_customer_keys(settings.customer_keys, settings.master_keyring)
        return shown if keys is None else [_opened(item, keys.key_named, keys.was_forgotten) for item in shown]
    except KeyStoreError as trouble:  # the events are read all the same; only their personal data is not shown
        print(f"warning: {trouble}; personal data shown sealed", file=sys.stderr)
        return shown
    finally:
        if keys is not None:
            keys.close()


def _personal(item: EventEnvelope | OrderState) -> PersonalData | None:
    if isinstance(item, OrderState):
        return item.personal
    return item.data.personal if isinstance(item.data, OrderReceived) else None


def _opened(item: Shown, key_named: Callable[[str], DataKey | None], erased: Callable[[str], bool]) -> Shown:
    personal = _personal(item)
    if personal is None:
        return item
    if isinstance(item, OrderState):
        customer_id, order_id = item.customer_id or "", item.order_id
    else:
        assert isinstance(item.data, OrderReceived)
        customer_id, order_id = item.data.customer_id, item.data.order_id
    opened, problems = opened_fields(dict(personal.fields()), customer_id, order_id, key_named, erased)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    clear = PersonalData.model_validate(opened)
    if isinstance(item, OrderState):
        return item.model_copy(update={"personal": clear})
    return item.model_copy(update={"data": item.data.model_copy(update={"personal": clear})})
