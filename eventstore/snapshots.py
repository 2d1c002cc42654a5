"""How a snapshot is stored: as a Temporal payload (json/plain), sealed with the shop's
codec when payload encryption is on, like the payloads it was folded from; so the archive
holds nothing in clear that the server did not. Stored as the payload's protobuf bytes.

Sealing needs the key the shop writes with, and opening the key it was sealed with: with
encryption on, `orders archive` (which folds each order to snapshot it) and
`orders archive --verify` need ORDERS_ENCRYPTION_KEYS, as every reader of the events does.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from domain import OrderSnapshot, SnapshotSchemaError, read_snapshot_json
from encryption import (
    EncryptionKeyError,
    Keyring,
    MalformedPayloadError,
    PayloadOpener,
    PayloadSealer,
    opener,
    opener_of,
    refuse_encrypted,
    sealer,
    sealer_of,
)
from eventstore.archive import Archive, ArchivedOrder, ArchivedSnapshot, ArchiveError
from eventstore.history import EnvelopeReader, HistoryReadError

_JSON = b"json/plain"


def _unsealed(payload: Payload) -> Payload:
    return payload


@dataclass(frozen=True)
class SnapshotSeal:
    """Seals snapshots as the shop writes payloads, and opens them as it reads them."""

    seal_payload: PayloadSealer = _unsealed
    open_payload: PayloadOpener = refuse_encrypted

    @classmethod
    def of(cls, client: Client) -> "SnapshotSeal":
        """As the client encodes and decodes: with its encryption codec's keys, if it has one."""
        codec = client.data_converter.payload_codec
        return cls(sealer_of(codec), opener_of(codec))

    @classmethod
    def with_keys(cls, keyring: Keyring | None) -> "SnapshotSeal":
        return cls(sealer(keyring), opener(keyring))

    def sealed(self, snapshot: OrderSnapshot) -> bytes:
        payload = Payload(metadata={"encoding": _JSON}, data=snapshot.model_dump_json().encode())
        return bytes(self.seal_payload(payload).SerializeToString())

    def opened(self, stored: bytes, where: str) -> OrderSnapshot:
        """The snapshot `stored` holds; a HistoryReadError naming `where` for one that
        cannot be opened (a key missing, damaged bytes), a SnapshotSchemaError for one of
        a layout this code does not read (fold the events instead)."""
        try:
            payload = self.open_payload(Payload.FromString(stored))
        except (EncryptionKeyError, MalformedPayloadError, DecodeError) as err:
            raise HistoryReadError(f"{where}: the snapshot cannot be opened: {err}") from None
        if payload.metadata.get("encoding") != _JSON:
            raise HistoryReadError(f"{where}: the snapshot is encoded as {payload.metadata.get('encoding')!r}")
        try:
            return read_snapshot_json(payload.data)
        except SnapshotSchemaError as err:
            raise SnapshotSchemaError(f"{where}: {err}") from None


def snapshot_of_archived(
    row: ArchivedSnapshot,
    archive: Archive,
    reader: EnvelopeReader,
    seal: SnapshotSeal,
    archived: ArchivedOrder | None = None,
) -> OrderSnapshot | None:
    """The archived order's snapshot as stored; folded from its archived events (those of
    `archived` when the caller read the row already) where there is none yet, or one of a
    layout this code does not read; None for an order no longer archived."""
    unreadable: SnapshotSchemaError | None = None
    if row.snapshot is not None:
        try:
            return seal.opened(row.snapshot, f"order {row.order_id!r} in the archive")
        except SnapshotSchemaError as err:
            unreadable = err
    archived = archived or archive.get(row.order_id)
    if archived is None:
        return None
    if archived.tombstone is not None:
        # Nothing to fold it from: the snapshot is the whole record, and this build cannot read it.
        raise ArchiveError(f"{unreadable}, and its events were compacted to it: only a build that reads it can answer")
    return OrderSnapshot.of(archived.stream(reader), datetime.now(UTC))
