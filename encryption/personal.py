"""Personal data sealed field by field under each customer's own data key (crypto-shredding:
delete the key, and every copy of every sealed value, wherever it went, is unreadable).

A sealed value is text: `sealed:v1:<key id>:<base64url(nonce | ciphertext | tag)>`,
AES-256-GCM under the customer's data key, with the customer id, the order id and the
field's name as associated data: a value moved to another order, customer or field fails
to open, as does one altered. The nonce is random, so sealing is done outside workflow
code (by the client that starts the order); the workflow carries sealed values as opaque
text, and replay needs no key.

The data keys themselves live in a key store (storage.customer_keys); here they are bytes.
"""

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain import SEALED_PREFIX

DATA_KEY_BYTES = 32
# What a reader shows for a value whose customer was forgotten (their key deleted).
ERASED = "(erased: the customer was forgotten)"
_NONCE_BYTES = 12


class UnreadableField(ValueError):
    """A sealed value that cannot be opened; the message names the order and field only."""


@dataclass(frozen=True)
class DataKey:
    """One customer's data key: its id (named in every value sealed under it) and its bytes."""

    key_id: str
    secret: bytes


def _bound(customer_id: str, order_id: str, field: str) -> bytes:
    return "\x00".join(("orders-personal-v1", customer_id, order_id, field)).encode()


def seal_value(key: DataKey, customer_id: str, order_id: str, field: str, value: str) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key.secret).encrypt(nonce, value.encode(), _bound(customer_id, order_id, field))
    return f"{SEALED_PREFIX}{key.key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def key_id_of(sealed: str) -> str | None:
    """The id of the key a sealed value names; None for text that is not one."""
    if not sealed.startswith(SEALED_PREFIX):
        return None
    key_id, _, _ = sealed[len(SEALED_PREFIX) :].partition(":")
    return key_id or None


def open_value(
    sealed: str, customer_id: str, order_id: str, field: str, key_named: Callable[[str], DataKey | None]
) -> str:
    """The clear value; UnreadableField naming the order and field (never the value) when
    the key is gone, or the value was altered or sealed for another order, customer or field."""
    where = f"order {order_id!r}: personal field {field!r}"
    key_id = key_id_of(sealed)
    if key_id is None:
        raise UnreadableField(f"{where} is not a sealed value")
    key = key_named(key_id)
    if key is None:
        raise UnreadableField(f"{where} cannot be opened: its key ({key_id}) is not in the key store")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(SEALED_PREFIX) + len(key_id) + 1 :].encode())
        bound = _bound(customer_id, order_id, field)
        return AESGCM(key.secret).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound).decode()
    except (InvalidTag, binascii.Error, ValueError):
        raise UnreadableField(
            f"{where} cannot be opened: altered, or sealed for another order, customer or field"
        ) from None


def new_data_key(key_id: str | None = None) -> DataKey:
    return DataKey(key_id or os.urandom(8).hex(), AESGCM.generate_key(bit_length=8 * DATA_KEY_BYTES))


def opened_fields(
    personal: Mapping[str, object],
    customer_id: str,
    order_id: str,
    key_named: Callable[[str], DataKey | None],
    erased: Callable[[str], bool] = lambda key_id: False,
) -> tuple[dict[str, object], list[str]]:
    """`personal` (field: sealed value) with each value opened, or ERASED where its key was
    deleted because its customer was forgotten (`erased`); and, for each that cannot be
    opened otherwise, a line saying so (its value left sealed)."""
    opened: dict[str, object] = {}
    problems = []
    for field, value in personal.items():
        key_id = key_id_of(value) if isinstance(value, str) else None
        if not isinstance(value, str) or key_id is None:
            opened[field] = value
            continue
        if key_named(key_id) is None and erased(key_id):
            opened[field] = ERASED
            continue
        try:
            opened[field] = open_value(value, customer_id, order_id, field, key_named)
        except UnreadableField as err:
            opened[field] = value
            problems.append(str(err))
    return opened, problems


def opened_in_json(
    data: bytes, key_named: Callable[[str], DataKey | None], erased: Callable[[str], bool] = lambda key_id: False
) -> bytes:
    """JSON text (a payload's data) with every personal field opened where it sits beside
    the order and customer it is bound to (an envelope's data, an order's input, a state);
    anything else, and a field that cannot be opened, as it was."""
    if SEALED_PREFIX.encode() not in data:
        return data
    try:
        document = json.loads(data)
    except ValueError:
        return data
    return json.dumps(_opened_within(document, key_named, erased), separators=(",", ":")).encode()


def _opened_within(value: object, key_named: Callable[[str], DataKey | None], erased: Callable[[str], bool]) -> object:
    if isinstance(value, list):
        return [_opened_within(item, key_named, erased) for item in value]
    if not isinstance(value, dict):
        return value
    found = {key: _opened_within(item, key_named, erased) for key, item in value.items()}
    personal, order_id, customer_id = found.get("personal"), found.get("order_id"), found.get("customer_id")
    if isinstance(personal, dict) and isinstance(order_id, str) and isinstance(customer_id, str):
        found["personal"], _ = opened_fields(personal, customer_id, order_id, key_named, erased)
    return found


def erased_in_line(line: str, erased: Callable[[str], bool]) -> str:
    """A JSON line with every sealed value whose key was deleted (its customer forgotten)
    replaced by ERASED; others left sealed. The line as it was when it holds none."""
    if SEALED_PREFIX not in line:
        return line
    try:
        document = json.loads(line)
    except ValueError:
        return line
    ending = line[len(line.rstrip("\n")) :]
    return json.dumps(_erased_within(document, erased), separators=(",", ":")) + ending


def _erased_within(value: object, erased: Callable[[str], bool]) -> object:
    if isinstance(value, list):
        return [_erased_within(item, erased) for item in value]
    if isinstance(value, dict):
        return {key: _erased_within(item, erased) for key, item in value.items()}
    if isinstance(value, str) and (key_id := key_id_of(value)) is not None and erased(key_id):
        return ERASED
    return value
