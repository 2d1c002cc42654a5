"""Waiting in tests for something another process or server does: one helper, no sleeps
scattered through the tests."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.05


async def wait_until(
    check: Callable[[], Awaitable[T | None]], *, seconds: float = 15, what: str = "the condition"
) -> T:
    """What `check` returns once it returns something other than None or False.

    An exception from `check` counts as "not yet" (a workflow not yet queryable, a
    visibility record not yet written), until time runs out; then the last one is raised.
    """
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        last_error: Exception | None = None
        try:
            result = await check()
            if result is not None and result is not False:
                return result
        except Exception as err:  # noqa: BLE001 - retried until the deadline, then raised
            last_error = err
        if asyncio.get_running_loop().time() > deadline:
            if last_error is not None:
                raise AssertionError(f"waited {seconds} s for {what}; last error: {last_error!r}") from last_error
            raise AssertionError(f"waited {seconds} s for {what}")
        await asyncio.sleep(_POLL_SECONDS)
