"""How the child is confined: resource limits, a scrubbed environment, and the
command wrapper that adds OS-level isolation where the machine offers it."""

from __future__ import annotations

import os
import resource
from pathlib import Path


def apply_limits(limits) -> None:
    """Runs in the child between fork and exec: cap memory, CPU, file size, open files, core dumps."""
    for which, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(which, (value, value))


def environment(workdir: Path) -> dict[str, str]:
    """A minimal environment: no tokens or secrets of the grader's own leak to student code."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",  # plots render off screen; nothing waits on a window
        "OMP_NUM_THREADS": "1",  # one grade, one core: batch runs parallelise across submissions
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "GRADER_SANDBOX": "1",  # lets the reaper recognise the child's orphans
        **({"VIRTUAL_ENV": os.environ["VIRTUAL_ENV"]} if "VIRTUAL_ENV" in os.environ else {}),
    }


def wrap(command: list[str], *, scratch: Path) -> tuple[list[str], list[str]]:
    """The command to start the child with, and notes on the isolation in force."""
    return command, ["sandbox: separate process with resource limits (no OS-level isolation)"]
