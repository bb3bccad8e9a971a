"""Unpacking a submitted zip as hostile input: bounded in members, size and compression
ratio; no links, no names that leave the folder; unsupported compression is a clean refusal."""

from __future__ import annotations

import io
import shutil
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from grader.submission.files import MAX_DEPTH, SKIPPED_DIRS, UnsafeFile, plain

MAX_MEMBERS = 2000
MAX_UNPACKED_BYTES = 100 << 20
MAX_RATIO = 200  # source code compresses about 4:1; a bomb compresses thousands to one
CHUNK = 1 << 20


def unzip(archive: Path, data: bytes, target: Path) -> tuple[Path, list[str]]:
    """Extract the zip ``data`` (read from ``archive``) into ``target``; return the folder to
    grade and notes on the members left out (names that climb out of the folder, links)."""
    name = plain(archive.name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zipped:
            members = zipped.infolist()
            if len(members) > MAX_MEMBERS:
                raise UnsafeFile(f"{name} holds more than {MAX_MEMBERS} files")
            budget, left_out = MAX_UNPACKED_BYTES, []
            for member in members:
                path = _member_path(member)
                if isinstance(path, str):
                    left_out.append(path)
                if not isinstance(path, PurePosixPath):
                    continue
                budget = _extract(zipped, member, target / path, budget, name)
    except UnsafeFile:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except NotImplementedError as error:  # deflate64, an unknown method
        raise UnsafeFile(f"{name} uses a compression method the grader cannot read ({plain(error)}); zip it again") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, OSError, ValueError) as error:
        # RuntimeError: an encrypted member; OSError/ValueError: names this system cannot create
        raise UnsafeFile(f"{name} is not a readable zip file: {plain(error)}") from None
    entries = [e for e in target.iterdir() if e.name not in SKIPPED_DIRS] if target.exists() else []
    # Classroom and Gradescope downloads often wrap everything in one folder.
    # Only counted: a member's name is the attacker's text and stays out of the feedback.
    notes = [f"{name}: left out {left_out.count(kind)} {kind}" for kind in sorted(set(left_out))]
    return (entries[0] if len(entries) == 1 and entries[0].is_dir() else target), notes


def _member_path(member: zipfile.ZipInfo) -> PurePosixPath | str | None:
    """Where a member goes inside the target; None for folders (made as needed); for a member
    that is never extracted, what kind it is."""
    raw = member.filename.replace("\\", "/")
    path = PurePosixPath(raw)
    drive = bool(path.parts) and ":" in path.parts[0]  # C:/... from Windows
    if raw.startswith("/") or ".." in path.parts or drive:
        return "member(s) named outside the archive's folder"
    if (member.external_attr >> 28) == 0o12:
        return "link(s)"
    if member.is_dir():
        return None
    if len(path.parts) > MAX_DEPTH + 2:
        return "member(s) nested too deep"
    return path


def _extract(zipped: zipfile.ZipFile, member: zipfile.ZipInfo, destination: Path, budget: int, archive: str) -> int:
    """Copy one member, counting the bytes it really unpacks to; return the budget left."""
    if member.file_size > budget:
        raise UnsafeFile(f"{archive} unpacks to more than {MAX_UNPACKED_BYTES >> 20} MB")
    if member.compress_size and member.file_size / member.compress_size > MAX_RATIO and member.file_size > CHUNK:
        raise UnsafeFile(f"{archive} holds a file compressed more than {MAX_RATIO}:1 (a zip bomb?)")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipped.open(member) as source, open(destination, "wb") as out:
        while chunk := source.read(CHUNK):
            budget -= len(chunk)
            if budget < 0:
                raise UnsafeFile(f"{archive} unpacks to more than {MAX_UNPACKED_BYTES >> 20} MB")
            out.write(chunk)
    return budget
