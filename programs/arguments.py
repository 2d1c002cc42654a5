"""Argument types the programs share: a malformed value is refused by argparse in one
line naming the flag (exit 2), before anything is reached."""

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

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


def moment(text: str) -> datetime:
    """An ISO 8601 time; UTC if it names no zone."""
    try:
        when = TypeAdapter(datetime).validate_python(text)
    except ValidationError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2026-11-27T14:30:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
