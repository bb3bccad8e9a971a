"""Running a judge under limits: it reads data the student's code chose, so no answer may
make it run away, allocate without bound, or crash the grader.

A judge runs on a thread of its own. Its limit is that thread's CPU time (where the
platform can read it), with a wall-clock backstop far above; past either it is stopped
with an exception raised in that thread. While it runs, the grading process may grow
its address space by at most ``MEMORY_BYTES``, so a count that asks for gigabytes
fails at once with MemoryError.
"""

from __future__ import annotations

import ctypes
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable

import psutil

try:
    import resource
except ImportError:  # Windows: no address-space limit; the time limit still holds
    resource = None

CPU_SECONDS = 10.0  # an honest judge takes milliseconds
BACKSTOP_SECONDS = 120.0
MEMORY_BYTES = 1 << 30
POLL_SECONDS = 0.05


class Overrun(BaseException):
    """Raised inside a judge that passed its limit; a BaseException so that a judge's own
    ``except Exception`` cannot swallow it."""


class Starved(Exception):
    """The judge reached the wall-clock backstop without using its CPU time: the machine's fault."""


def run_limited(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, or its exception; Overrun past CPU_SECONDS of its own CPU time,
    Starved past BACKSTOP_SECONDS of wall time with CPU time to spare."""
    cpu_seconds, backstop = CPU_SECONDS, BACKSTOP_SECONDS
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = function(*args)
        except BaseException as error:  # handed to the caller, Overrun included
            box["error"] = error

    thread = threading.Thread(target=target, name="judge", daemon=True)
    with _address_space_headroom():
        thread.start()
        cpu = _thread_cpu(thread)
        deadline = time.monotonic() + backstop
        while thread.is_alive():
            thread.join(POLL_SECONDS)
            if not thread.is_alive():
                break
            used = cpu()
            if used is not None and used > cpu_seconds:
                _stop(thread)
                raise Overrun(f"judging it took more than {cpu_seconds:g} s of CPU time")
            if time.monotonic() >= deadline:
                _stop(thread)
                if used is None:  # no per-thread clock here: the backstop is the limit
                    raise Overrun(f"judging it took more than {backstop:g} s")
                raise Starved(f"judging waited {backstop:g} s without using its {cpu_seconds:g} s of CPU time")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _thread_cpu(thread: threading.Thread) -> Callable[[], float | None]:
    """A reader of the thread's CPU seconds, or of None where the platform has none."""
    try:
        clock = time.pthread_getcpuclockid(thread.ident)
    except (AttributeError, OSError):  # Windows, macOS: psutil lists threads' times
        native = thread.native_id

        def from_psutil() -> float | None:
            try:
                found = [t for t in psutil.Process().threads() if t.id == native]
            except psutil.Error:
                return None
            return found[0].user_time + found[0].system_time if found else None

        return from_psutil

    def from_clock() -> float | None:
        try:
            return time.clock_gettime(clock)
        except OSError:  # the thread ended between the check and the read
            return None

    return from_clock


def _stop(thread: threading.Thread) -> None:
    """Raise Overrun in the thread at its next bytecode; a thread stuck in C stops when it returns."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(Overrun))
    thread.join(1.0)


@contextmanager
def _address_space_headroom():
    """Cap this process's address space at its current size plus MEMORY_BYTES, then restore it."""
    if resource is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = psutil.Process().memory_info().vms + MEMORY_BYTES
    for limit in (soft, hard):
        if limit != resource.RLIM_INFINITY:
            cap = min(cap, limit)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):  # a platform that will not lower it (macOS): the time limit still holds
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
