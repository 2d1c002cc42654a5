"""Where a program reads and writes on this machine, checked before any work is done.

Every path a program is given goes through one of these, by the role it plays: a file it
reads (a history file), a file it writes (an export), a file it reads and rewrites (a
checkpoint), or a place it keeps things in (the data directory, the archive, the read
models, the ledger). A wrong place gets one `PlaceError` naming it and what is wrong,
before anything is read, written or sent; never a traceback half-way through.

Whether a place can be written is found by trying (a file made and removed, a file
opened for update), not from its mode bits: root ignores those, read-only media do not.
"""

import contextlib
import os
import tempfile
from enum import StrEnum
from pathlib import Path


class PlaceError(ValueError):
    """A path that cannot serve its role; the message names it and why."""


class Role(StrEnum):
    INPUT = "a file read"
    OUTPUT = "a file written"
    STATE = "a file read and rewritten"
    STORE = "a directory or database kept"


def input_file(path: Path) -> Path:
    """A file to read: it exists, is a file, and opens for reading."""
    if path.is_dir():
        raise PlaceError(f"{path} is a directory, not a file")
    if not path.exists():
        raise PlaceError(f"{path} does not exist")
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise PlaceError(f"{path} cannot be read: {err.strerror or err}") from None
    return path


def output_file(path: Path) -> Path:
    """A file to write (replacing one there): not a directory, in a directory that exists
    and takes new files."""
    if path.is_dir():
        raise PlaceError(f"{path} is a directory, not a file")
    writable_directory(path.parent, create=False, what=f"the directory of {path}")
    return path


def state_file(path: Path) -> Path:
    """A file read and then rewritten in place (a checkpoint): if it is there, a file that
    opens for update; if not, a directory that takes it."""
    if not path.exists() and not path.is_symlink():
        return output_file(path)
    input_file(path)
    try:
        with path.open("r+b"):
            pass
    except OSError as err:
        raise PlaceError(f"{path} cannot be written: {err.strerror or err}") from None
    writable_directory(path.parent, create=False, what=f"the directory of {path}")  # its journal goes beside it
    return path


def writable_directory(path: Path, *, create: bool = True, what: str | None = None) -> Path:
    """A directory that takes new files; made (with its parents) when missing and `create`."""
    named = what or str(path)
    if path.exists() and not path.is_dir():
        raise PlaceError(f"{named} is a file, not a directory")
    if not path.exists():
        if not create:
            raise PlaceError(f"{named} does not exist")
        blocking = _file_on_the_way(path)
        if blocking is not None:
            raise PlaceError(f"{named} cannot be made: {blocking} is a file, not a directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise PlaceError(f"{named} cannot be made: {err.strerror or err}") from None
    try:
        handle, probe = tempfile.mkstemp(prefix=".orders-probe-", dir=path)
    except OSError as err:
        raise PlaceError(f"{named} cannot be written: {err.strerror or err}") from None
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return path


def database_file(path: Path, *, writing: bool) -> Path:
    """A database kept in one file (SQLite): for writing, one that opens for update or a
    directory that takes it; for reading only, what is there (whether it exists is the
    reader's question)."""
    if path.is_dir():
        raise PlaceError(f"{path} is a directory, not a database file")
    blocking = _file_on_the_way(path.parent)
    if blocking is not None:
        raise PlaceError(f"{path} cannot be there: {blocking} is a file, not a directory")
    if writing:
        if path.exists():
            state_file(path)
        else:
            writable_directory(path.parent, what=f"the directory of {path}")
    return path


def _file_on_the_way(path: Path) -> Path | None:
    """The first of `path` and its parents that exists as something other than a directory."""
    for place in (path, *path.parents):
        if place.exists() or place.is_symlink():
            return None if place.is_dir() else place
    return None
