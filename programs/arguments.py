"""Argument types the programs share: a malformed value is refused by argparse in one
line naming the flag (exit 2), before anything is reached."""

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from connection import check_version_name
from storage import PlaceError, Role, input_file, output_file, state_file

NumberT = TypeVar("NumberT", int, float)


def _number(text: str, convert: Callable[[str], NumberT], what: str) -> NumberT:
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _refuse_unless(holds: bool, message: str) -> None:
    if not holds:
        raise argparse.ArgumentTypeError(message)


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        number = _number(text, int, "a whole number")
        _refuse_unless(number >= minimum, f"{number} is below {minimum}")
        _refuse_unless(maximum is None or number <= maximum, f"{number} is above {maximum}")
        return number

    return parse


def seconds_above_zero(text: str) -> float:
    seconds = _number(text, float, "a number of seconds")
    _refuse_unless(seconds > 0, f"{text} is not above 0")
    return seconds


def percentage(text: str) -> float:
    """Strictly between 0 and 100: a share, not all or nothing."""
    percent = _number(text, float, "a percentage")
    _refuse_unless(0 < percent < 100, f"{text} is not above 0 and below 100 (without --ramp: make it current)")
    return percent


def build_id(text: str) -> str:
    """A build id as Temporal takes it: up to 255 printable characters, no spaces."""
    try:
        return check_version_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def moment(text: str) -> datetime:
    """An ISO 8601 time; UTC if it names no zone."""
    from pydantic import TypeAdapter, ValidationError  # when a time is given: help needs none

    try:
        when = TypeAdapter(datetime).validate_python(text)
    except ValidationError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2026-11-27T14:30:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class PathArgument:
    """An argparse type for a path of one `role`: checked as it is parsed, so a wrong
    place is refused in one line (exit 2) before any work. `kind` says what the file holds
    (a history file, an export checkpoint, …), for its help and for tests that try each."""

    def __init__(self, role: Role, kind: str, check: Callable[[Path], Path]) -> None:
        self.role, self.kind, self._check = role, kind, check
        self.__name__ = kind  # argparse names a type by it in its messages

    def __call__(self, text: str) -> Path:
        try:
            return self._check(Path(text))
        except PlaceError as err:
            raise argparse.ArgumentTypeError(str(err)) from None


def file_to_read(kind: str) -> PathArgument:
    return PathArgument(Role.INPUT, kind, input_file)


def file_to_write(kind: str) -> PathArgument:
    return PathArgument(Role.OUTPUT, kind, output_file)


def file_to_keep(kind: str) -> PathArgument:
    """A file read and rewritten in place, made if missing (a checkpoint)."""
    return PathArgument(Role.STATE, kind, state_file)


class DatabaseToRead(PathArgument):
    """A database read only: a postgresql:// DSN as it is, or a SQLite file to read."""

    def __init__(self, kind: str) -> None:
        super().__init__(Role.INPUT, kind, input_file)

    def __call__(self, text: str) -> Path | str:  # type: ignore[override]
        if text.startswith(("postgresql://", "postgres://")):
            return text
        return super().__call__(text.removeprefix("sqlite:///"))


class OrderOrHistoryFile(PathArgument):
    """An order id, or the path of an exported history: a path when it ends in `.json`, or
    names a file, or a directory by a path with a separator in it (order ids may hold
    slashes; an id that happens to name a directory here stays an id)."""

    def __init__(self) -> None:
        super().__init__(Role.INPUT, "history file", input_file)

    def __call__(self, text: str) -> str:  # type: ignore[override]
        path = Path(text)
        if is_history_path(text):
            return str(super().__call__(text))
        return text if not (path.is_dir() and "/" in text) else str(super().__call__(text))


def is_history_path(text: str) -> bool:
    """Whether TARGET names an exported history rather than an order id."""
    return text.endswith(".json") or Path(text).is_file()
