"""Argument types the programs share: a malformed value is refused by argparse in one
line naming the flag (exit 2), before anything is reached."""

import argparse
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import TypeAdapter, ValidationError


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"{number} is below {minimum}")
        if maximum is not None and number > maximum:
            raise argparse.ArgumentTypeError(f"{number} is above {maximum}")
        return number

    return parse


def seconds_above_zero(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text} is not above 0")
    return seconds


def percentage(text: str) -> float:
    """Strictly between 0 and 100: a share, not all or nothing."""
    try:
        percent = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 < percent < 100:
        raise argparse.ArgumentTypeError(f"{text} is not above 0 and below 100 (without --ramp: make it current)")
    return percent


def moment(text: str) -> datetime:
    """An ISO 8601 time; UTC if it names no zone."""
    try:
        when = TypeAdapter(datetime).validate_python(text)
    except ValidationError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2026-11-27T14:30:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
