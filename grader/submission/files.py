"""Reading a submission's files as hostile input: no links out of it, no devices or FIFOs,
bounded walks and sizes. Everything here reads bytes; nothing runs student code."""

from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path

MAX_FILE_BYTES = 5 << 20  # a hand-written source file is far smaller; bigger is a mistake or an attack
MAX_DEPTH = 12  # folders below the submission's root that are searched
MAX_ENTRIES = 5000  # files and folders looked at in one walk
SKIPPED_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".ipynb_checkpoints", "__MACOSX"}


class UnsafeFile(Exception):
    """A file the grader refuses to read; the message says why."""


def plain(text: str, limit: int = 120) -> str:
    """A name or snippet from a submission as plain text: no control characters, bounded length."""
    cleaned = "".join("?" if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") else c for c in str(text))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def read_bytes(path: Path, base: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file inside ``base``; refuse links (symbolic or hard), devices,
    FIFOs and files over ``limit`` bytes."""
    name = plain(path.name)
    if path.is_symlink():
        raise UnsafeFile(f"{name} is a link; hand in the file itself")
    if not path.parent.resolve().is_relative_to(base.resolve()):
        raise UnsafeFile(f"{name} is outside the submission")
    try:  # O_NOFOLLOW: a link swapped in now is refused; O_NONBLOCK: a FIFO cannot stall the open
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise UnsafeFile(f"{name} cannot be read ({plain(error.strerror or error)})") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{name} is not a regular file")
        if info.st_nlink > 1:
            raise UnsafeFile(f"{name} is a hard link to another file; hand in the file itself")
        if info.st_size > limit:
            raise UnsafeFile(f"{name} is larger than {limit >> 20} MB")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(f"{name} is larger than {limit >> 20} MB")
    return data


def walk(base: Path) -> list[Path]:
    """Regular-looking files under ``base``, shallowest first; folders that are links, hidden
    or environments are skipped, and the walk is bounded in depth and entries."""
    found: list[Path] = []
    seen = 0
    level = [base]
    for _depth in range(MAX_DEPTH + 1):
        below: list[Path] = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            seen += len(entries)
            if seen > MAX_ENTRIES:
                raise UnsafeFile(
                    f"the submission holds more than {MAX_ENTRIES} files and folders; hand in only the homework"
                )
            for entry in entries:
                if entry.name in SKIPPED_DIRS or entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    below.append(Path(entry.path))
                elif not entry.is_dir():
                    found.append(Path(entry.path))  # links and devices too: reading them says why not
        level = below
    return found
