"""What of a submission can change its grade: its hash, and a packed copy.

Both are made from exactly the files the loader reads (``grader.submission.selection``),
read under the same rules: a README, a ``__pycache__`` or a file too large to grade that
changes does not make a student's work look new; a file the loader refuses counts by the
reason it is refused, never by what it holds, and is never opened (a FIFO cannot hang this).
A .zip counts whole.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from grader.plugin import Assignment
from grader.submission.files import UnsafeFile, read_bytes
from grader.submission.selection import select


def _read(path: Path, assignment: Assignment) -> list[tuple[str, bytes | UnsafeFile]]:
    """(name, bytes or the refusal) of each file the loader reads; ('', refusal) for a folder it refuses."""
    try:
        chosen = select(assignment, path)
    except UnsafeFile as refusal:
        return [("", refusal)]
    found: list[tuple[str, bytes | UnsafeFile]] = []
    for file, cap in chosen.files():
        try:
            found.append((chosen.name(file), read_bytes(file, chosen.base, cap)))
        except UnsafeFile as refusal:
            found.append((chosen.name(file), refusal))
    return found


def submission_hash(path: Path, assignment: Assignment) -> str:
    """sha256 over what the loader would read; a changed submission gets a new hash."""
    digest = hashlib.sha256()
    for name, data in _read(Path(path), assignment):
        content = data if isinstance(data, bytes) else f"refused: {data}".encode()
        digest.update(f"{name}\0{isinstance(data, bytes)}\0{len(content)}\0".encode() + content)
    return digest.hexdigest()


def pack(path: Path, assignment: Assignment) -> tuple[str, bytes]:
    """(file name, bytes) to send a submission to a machine that cannot see this disk.

    A folder becomes a zip of the files the loader reads, inside one top folder of the
    same name, which the loader unwraps: the grade is the same as from the folder itself
    (a file the loader refuses is left out, so it reads as missing; a folder it refuses
    whole is packed empty). A lone file is sent as it is, or empty if it is refused.
    """
    path = Path(path)
    found = [(name, data) for name, data in _read(path, assignment) if isinstance(data, bytes)]
    if not path.is_dir():
        return path.name, dict(found).get(path.name, b"")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{path.name}/", b"")  # the top folder, even when nothing else is in it
        for name, data in found:
            archive.writestr(f"{path.name}/{name}", data)
    return f"{path.name}.zip", buffer.getvalue()
