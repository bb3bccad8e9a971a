"""What of a submission can change its grade: its files, their hash, and a packed copy.

The loader only ever copies the assignment's module files or a notebook out of a
folder, so only those count: a README or a .git folder that changes does not make
a student's work look new. A .zip or a notebook counts whole.

Only regular files are opened: a link is followed only to a regular file inside the
submission (as the loader does); anything else (a FIFO, a device, a link out) is
named, never read, so hashing cannot hang or leak.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from pathlib import Path

from grader.plugin import Assignment
from grader.submission import MAX_FILE_BYTES, SKIPPED_DIRS

CHUNK = 1 << 20


def relevant_files(folder: Path, assignment: Assignment) -> list[Path]:
    """Files under ``folder`` that the loader could take, in a stable order."""
    wanted = set(assignment.modules.values())
    found = [p for p in _walk(folder) if p.name in wanted or p.suffix == ".ipynb"]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _walk(base: Path):
    try:
        entries = list(os.scandir(base))
    except OSError:
        return
    for entry in entries:
        if entry.name in SKIPPED_DIRS or entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        else:
            yield Path(entry.path)


def _readable(path: Path, base: Path) -> Path | None:
    """The regular file ``path`` stands for inside ``base``, or None if it must not be opened."""
    try:
        resolved = path.resolve()
        if not resolved.is_relative_to(base.resolve()):
            return None
        return resolved if stat.S_ISREG(os.stat(resolved).st_mode) else None
    except (OSError, RuntimeError):  # a dangling or looping link
        return None


def submission_hash(path: Path, assignment: Assignment) -> str:
    """sha256 over what the loader would read; a changed submission gets a new hash."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_file():
        _hash_file(digest, path)
        return digest.hexdigest()
    for file in relevant_files(path, assignment):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        readable = _readable(file, path)
        if readable is None:
            digest.update(b"unreadable:" + os.fsencode(os.readlink(file) if file.is_symlink() else b"special") + b"\0")
        elif readable.stat().st_size > MAX_FILE_BYTES:  # refused by the loader whatever it holds
            digest.update(f"too large:{readable.stat().st_size}\0".encode())
        else:
            _hash_file(digest, readable)
    return digest.hexdigest()


def _hash_file(digest, path: Path) -> None:
    digest.update(f"{path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)


def pack(path: Path, assignment: Assignment) -> tuple[str, bytes]:
    """(file name, bytes) to send a submission to a machine that cannot see this disk.

    A folder becomes a zip of its relevant files inside one top folder of the same
    name, which the loader unwraps: the grade is the same as from the folder itself
    (a file over the loader's size limit is left out, so it reads as missing).
    """
    path = Path(path)
    if path.is_file():
        return path.name, path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{path.name}/", b"")  # the top folder, even when nothing else is in it
        for file in relevant_files(path, assignment):
            readable = _readable(file, path)
            if readable is not None and readable.stat().st_size <= MAX_FILE_BYTES:
                archive.write(readable, f"{path.name}/{file.relative_to(path).as_posix()}")
    return f"{path.name}.zip", buffer.getvalue()
