"""Customer data encrypted before it leaves the process: a payload codec (AES-256-GCM).

With ORDERS_ENCRYPTION_KEYS set, every payload this project writes passes through
`EncryptionCodec` on its way to the server: workflow input and result, activity inputs
and results, update arguments and results, query results, the memo's envelopes, and
failure messages and stack traces (the failure converter's encoded attributes). The
server, and anyone reading its database, sees ciphertext; search attributes are never
encoded (see the README for what stays visible).

Keys are `KEY_ID=BASE64_OF_32_BYTES`, comma-separated or one a line in a file (`@PATH`);
the first encrypts, any decrypts: to rotate, put the new key first and keep the old
ones while anything written under them is read. Each payload names its key id in its
metadata, so a missing or wrong key is named, never guessed. A payload that is not
encrypted (written before encryption was turned on) passes through as it is.
"""

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
_NONCE_BYTES = 12
_TAG_BYTES = 16  # AES-GCM's authentication tag, after the ciphertext
_KEY_BYTES = 32


class EncryptionKeyError(ValueError):
    """A payload that cannot be decrypted with the keys at hand, naming its key id."""


class MalformedPayloadError(ValueError):
    """A payload that says it is encrypted but cannot be: too short for a nonce and a tag."""


@dataclass(frozen=True)
class Keyring:
    """Named AES-256 keys; the first one encrypts."""

    keys: Mapping[str, bytes]
    active: str

    @classmethod
    def parse(cls, text: str, setting: str = "ORDERS_ENCRYPTION_KEYS") -> "Keyring":
        """`KEY_ID=BASE64,...`, or `@PATH` to a file of such entries, one a line."""
        text = text.strip()
        if text.startswith("@"):
            path = Path(text[1:])
            try:
                text = path.read_text()
            except OSError as err:
                raise ValueError(f"{setting}: cannot read {path}: {err.strerror}") from None
        entries = [entry.strip() for line in text.splitlines() for entry in line.split(",")]
        entries = [entry for entry in entries if entry and not entry.startswith("#")]
        if not entries:
            raise ValueError(f"{setting}: no key given (KEY_ID=BASE64_OF_32_BYTES)")
        keys: dict[str, bytes] = {}
        for entry in entries:
            key_id, equals, encoded = entry.partition("=")
            key_id = key_id.strip()
            if not equals or not key_id:
                raise ValueError(f"{setting}: {entry[:20]!r}… is not KEY_ID=BASE64_OF_32_BYTES")
            if key_id in keys:
                raise ValueError(f"{setting}: key id {key_id!r} is given twice")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error:
                raise ValueError(f"{setting}: key {key_id!r} is not base64") from None
            if len(key) != _KEY_BYTES:
                raise ValueError(f"{setting}: key {key_id!r} is {len(key)} bytes; AES-256 needs {_KEY_BYTES}")
            keys[key_id] = key
        return cls(keys, next(iter(keys)))

    @staticmethod
    def new_key() -> str:
        """A fresh key, base64, for `KEY_ID=` in front of it."""
        return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()

    def seal(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE_BYTES)
        key_id = self.active.encode()
        # The key id is authenticated with the data: a payload relabelled fails to open.
        sealed = AESGCM(self.keys[self.active]).encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(
            metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: key_id},
            data=nonce + sealed,
        )

    def open(self, payload: Payload) -> Payload:
        if not is_encrypted(payload):
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        if len(payload.data) < _NONCE_BYTES + _TAG_BYTES:
            raise MalformedPayloadError(
                f"an encrypted payload (key {key_id!r}) is {len(payload.data)} bytes, shorter than"
                f" its {_NONCE_BYTES}-byte nonce and {_TAG_BYTES}-byte tag"
            )
        key = self.keys.get(key_id)
        if key is None:
            raise EncryptionKeyError(
                f"a payload is encrypted with key {key_id!r}, which ORDERS_ENCRYPTION_KEYS does not hold"
                f" (it holds {', '.join(repr(known) for known in self.keys)})"
            )
        try:
            opened = AESGCM(key).decrypt(payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise EncryptionKeyError(
                f"a payload encrypted with key {key_id!r} does not open with the key of that id given in"
                " ORDERS_ENCRYPTION_KEYS: a different key under the same id, or altered data"
            ) from None
        return Payload.FromString(opened)


def customer_ref(key: bytes, customer_id: str) -> str:
    """What the server sees in place of a customer id: a keyed hash, the same for the same
    customer and key (so filters work), that no one without the key can turn back into
    the id or compute from a guessed one."""
    digest = hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()
    return f"cust-{digest[:32]}"


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCRYPTED_ENCODING


def refuse_encrypted(payload: Payload) -> Payload:
    """How payloads are opened with no keys: plain ones pass, encrypted ones are named."""
    if is_encrypted(payload):
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        raise EncryptionKeyError(
            f"a payload is encrypted with key {key_id!r}; set ORDERS_ENCRYPTION_KEYS with that key to read it"
        )
    return payload


# Turns a payload as stored into the payload as written: decrypted, or refused naming its key.
PayloadOpener = Callable[[Payload], Payload]


# Turns a payload as written into the payload as stored: sealed with the shop's key when
# encryption is on, as it is when it is off.
PayloadSealer = Callable[[Payload], Payload]


def _as_it_is(payload: Payload) -> Payload:
    return payload


def sealer(keyring: Keyring | None) -> PayloadSealer:
    return keyring.seal if keyring is not None else _as_it_is


def sealer_of(codec: PayloadCodec | None) -> PayloadSealer:
    """How to store a payload as a client with `codec` writes one: sealed with its keys, if it has ours."""
    return codec.keyring.seal if isinstance(codec, EncryptionCodec) else _as_it_is


def opener(keyring: Keyring | None) -> PayloadOpener:
    return keyring.open if keyring is not None else refuse_encrypted


def opener_of(codec: PayloadCodec | None) -> PayloadOpener:
    """How to open payloads a client with `codec` reads: with its keys, if it has ours."""
    return codec.keyring.open if isinstance(codec, EncryptionCodec) else refuse_encrypted


class EncryptionCodec(PayloadCodec):
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.keyring.seal(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.keyring.open(payload) for payload in payloads]
