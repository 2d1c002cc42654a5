"""The one way a moment is written where it is compared as text: in visibility queries
(`CloseTime < '…'`), and in the archive, the read models and the export checkpoints that
keep when a run began. UTC to the microsecond, fixed width, so text sorts as time does."""

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def as_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_FORMAT)


def from_text(text: object) -> datetime | None:
    """The moment `as_text` wrote; None for nothing written (an empty column)."""
    # fromisoformat reads _FORMAT's text exactly (the "Z" included), many times faster than strptime.
    return datetime.fromisoformat(str(text)) if text else None
