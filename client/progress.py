"""Progress of a run on stderr: a bar on a terminal, a line every few seconds otherwise
(a log never gets a line an order)."""

import sys
import time
from datetime import timedelta

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from client.following import Run

_PLAIN_PROGRESS_EVERY = timedelta(seconds=5)


class ProgressDisplay:
    """Progress on stderr: a bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Progress | None = None
        self.last_line = 0.0
        self.run: Run | None = None

    def __enter__(self) -> "ProgressDisplay":
        if sys.stderr.isatty():
            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                transient=True,
            )  # fmt: skip
            self.bar.start()
            self.started_task = self.bar.add_task("started", total=self.total)
            self.settled_task = self.bar.add_task("settled", total=self.total)
        return self

    def update(self) -> None:
        assert self.run is not None
        if self.bar is not None:
            self.bar.update(self.started_task, completed=self.run.started)
            self.bar.update(self.settled_task, completed=self.run.settled)
        elif (
            time.monotonic() - self.last_line >= _PLAIN_PROGRESS_EVERY.total_seconds() or self.run.settled == self.total
        ):
            self.last_line = time.monotonic()
            print(
                f"orders: {self.run.started}/{self.total} started, {self.run.settled} settled",
                file=sys.stderr,
                flush=True,
            )

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.stop()
