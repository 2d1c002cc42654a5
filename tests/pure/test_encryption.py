"""The payload codec: AES-256-GCM, the key named in each payload, rotation, and clear
errors for a missing or wrong key, bad settings or altered data."""

import base64

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

from connection import SettingsError, load_settings
from connection.temporal import data_converter
from encryption import (
    ENCRYPTED_ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    EncryptionKeyError,
    Keyring,
    refuse_encrypted,
)

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"customer_id": "CUSTOMER-123", "total": "150.50"}')


def keyring(*ids: str) -> Keyring:
    return Keyring.parse(",".join(f"{key_id}={Keyring.new_key()}" for key_id in ids))


def test_a_sealed_payload_names_its_key_hides_its_data_and_opens_to_the_original():
    keys = keyring("2026-11", "2026-10")
    sealed = keys.seal(PLAIN)
    assert sealed.metadata["encoding"] == ENCRYPTED_ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"2026-11"
    assert b"CUSTOMER-123" not in sealed.data and b"150.50" not in sealed.data
    assert keys.open(sealed) == PLAIN
    assert keys.seal(PLAIN).data != sealed.data  # a fresh nonce each time


def test_rotation_the_first_key_encrypts_any_key_decrypts():
    old = keyring("A")
    written_under_a = old.seal(PLAIN)
    rotated = Keyring.parse(f"B={Keyring.new_key()},A={base64.b64encode(old.keys['A']).decode()}")
    assert rotated.active == "B"
    assert rotated.open(written_under_a) == PLAIN
    assert rotated.seal(PLAIN).metadata[KEY_ID_METADATA] == b"B"


def test_a_missing_or_wrong_key_is_named_never_garbage():
    sealed = keyring("A").seal(PLAIN)
    with pytest.raises(EncryptionKeyError, match="encrypted with key 'A', which ORDERS_ENCRYPTION_KEYS does not hold"):
        keyring("B").open(sealed)
    with pytest.raises(EncryptionKeyError, match="key 'A' does not open with the key of that id"):
        keyring("A").open(sealed)
    with pytest.raises(EncryptionKeyError, match="set ORDERS_ENCRYPTION_KEYS with that key"):
        refuse_encrypted(sealed)
    assert refuse_encrypted(PLAIN) is PLAIN


def test_altered_data_or_a_relabelled_key_id_fails_to_open():
    keys = Keyring.parse(f"A={Keyring.new_key()},B={Keyring.new_key()}")
    sealed = keys.seal(PLAIN)
    altered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(EncryptionKeyError):
        keys.open(altered)
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"B"}, data=sealed.data)
    with pytest.raises(EncryptionKeyError):
        keys.open(relabelled)


def test_plain_payloads_written_before_encryption_pass_through():
    assert keyring("A").open(PLAIN) == PLAIN


async def test_the_codec_encodes_and_decodes_lists():
    codec = EncryptionCodec(keyring("A"))
    sealed = await codec.encode([PLAIN, PLAIN])
    assert all(payload.metadata["encoding"] == ENCRYPTED_ENCODING for payload in sealed)
    assert await codec.decode(sealed) == [PLAIN, PLAIN]


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("A", "is not KEY_ID=BASE64_OF_32_BYTES"),
        ("A=not base64!", "key 'A' is not base64"),
        (f"A={base64.b64encode(b'short').decode()}", "key 'A' is 5 bytes; AES-256 needs 32"),
        # Fixed keys: a parameter's id must be the same wherever the tests are collected.
        (
            f"A={base64.b64encode(bytes(32)).decode()},A={base64.b64encode(bytes(range(32))).decode()}",
            "key id 'A' is given twice",
        ),
        ("@/nonexistent/keys", "cannot read /nonexistent/keys"),
        (" , ", "no key given"),
    ],
)
def test_a_malformed_key_setting_is_refused_naming_the_setting(setting, complaint):
    with pytest.raises(SettingsError, match="ORDERS_ENCRYPTION_KEYS") as refused:
        load_settings({"ORDERS_ENCRYPTION_KEYS": setting})
    assert complaint in str(refused.value)


def test_without_keys_the_data_converter_is_the_plain_one_and_with_keys_failures_are_encoded_too():
    assert load_settings({}).keyring is None
    assert data_converter(None) is pydantic_data_converter
    encrypting = data_converter(keyring("A"))
    assert isinstance(encrypting.payload_codec, EncryptionCodec)
    assert isinstance(encrypting.failure_converter, DefaultFailureConverterWithEncodedAttributes)
    assert encrypting.payload_converter_class is pydantic_data_converter.payload_converter_class
