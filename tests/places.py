"""Places on disk as an operator meets them on a bad day: read-only, garbage, a file where
a directory should be."""

import os
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """`path` (and all under it) read-only for the block, even to root: root ignores mode
    bits, so as root it is made immutable (`chattr +i`), as read-only media are; as anyone
    else, its mode bits lose write."""
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        assert chattr, "chattr (e2fsprogs) is needed to make a place read-only as root"
        subprocess.run([chattr, "-R", "+i", str(path)], check=True, capture_output=True)
        try:
            yield path
        finally:
            subprocess.run([chattr, "-R", "-i", str(path)], check=True, capture_output=True)
        return
    modes = {place: place.stat().st_mode for place in [path, *path.rglob("*")]}
    for place, mode in modes.items():
        place.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield path
    finally:
        for place, mode in modes.items():
            place.chmod(mode)


def garbage(path: Path) -> Path:
    """A file of bytes no program of ours wrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x01not what anyone wrote here\xff" * 64)
    return path


def a_regular_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a regular file\n")
    return path


def backup_of(database: Path, copy: Path) -> Path:
    """A SQLite database as a backup restores it: one file, in rollback-journal mode (a
    reader that would switch it to WAL must write it)."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(database) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy, isolation_level=None) as target:
        target.execute("PRAGMA journal_mode=DELETE")
    return copy
