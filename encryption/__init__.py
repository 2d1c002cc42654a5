"""Payload encryption: what customer data looks like on its way to the server and back
(encryption.codec: the SDK's `PayloadCodec`, AES-256-GCM, keys by id), and the customer
reference a server may see in place of a customer id.

A room of its own, below the connection: the client's data converter, the event store's
reader of recorded histories and the codec server the Web UI calls all open payloads
with it, and none of them needs to reach Temporal to do so."""

from encryption.codec import (
    ENCRYPTED_ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    EncryptionKeyError,
    Keyring,
    MalformedPayloadError,
    PayloadOpener,
    PayloadSealer,
    customer_ref,
    is_encrypted,
    opener,
    opener_of,
    refuse_encrypted,
    sealer,
    sealer_of,
)
from encryption.personal import (
    ERASED,
    DataKey,
    UnreadableField,
    erased_in_line,
    key_id_of,
    new_data_key,
    open_value,
    opened_fields,
    opened_in_json,
    seal_value,
)

__all__ = [
    "ENCRYPTED_ENCODING",
    "ERASED",
    "KEY_ID_METADATA",
    "DataKey",
    "EncryptionCodec",
    "EncryptionKeyError",
    "Keyring",
    "MalformedPayloadError",
    "PayloadOpener",
    "PayloadSealer",
    "UnreadableField",
    "customer_ref",
    "erased_in_line",
    "is_encrypted",
    "key_id_of",
    "new_data_key",
    "open_value",
    "opened_fields",
    "opened_in_json",
    "opener",
    "opener_of",
    "refuse_encrypted",
    "seal_value",
    "sealer",
    "sealer_of",
]  # fmt: skip
