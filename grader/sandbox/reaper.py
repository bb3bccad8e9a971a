"""Make sure nothing a submission started outlives grading, on every platform (psutil).

The child runs in its own session, so its process group is killed at once. A
process that left the group (``setsid``, double fork) is still a descendant, or,
once orphaned, is re-parented to us because we are a child subreaper (Linux); both are
found and killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

PR_SET_CHILD_SUBREAPER = 36
_live: set[int] = set()  # sandbox children still in use (a batch worker starts the next one early)


def track(pid: int) -> None:
    """A sandbox child that is in use: kill_strays leaves it alone until kill_tree ends it."""
    _live.add(pid)


def become_subreaper() -> None:
    """Orphans of our children become our children instead of init's (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _parents() -> dict[int, int]:
    parents = {}
    for process in psutil.process_iter(["ppid"]):
        if process.info["ppid"] is not None:
            parents[process.pid] = process.info["ppid"]
    return parents


def descendants(pid: int) -> set[int]:
    parents = _parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _kill(pids) -> None:
    for pid in pids:
        try:
            psutil.Process(pid).kill()  # SIGKILL; TerminateProcess on Windows
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass


def kill_tree(process: subprocess.Popen) -> None:
    """Kill a sandbox child, its process group and every descendant; reap them."""
    _live.discard(process.pid)
    killed: set[int] = set()
    for _ in range(5):  # a fork bomb may add processes while we kill; go round until none are left
        tree = descendants(process.pid)
        if hasattr(os, "killpg"):
            try:
                os.killpg(process.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
        _kill(tree | {process.pid})
        killed |= tree
        if not tree:
            break
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    _reap(killed)
    kill_strays()


def _reap(pids: set[int], patience: float = 5.0) -> None:
    """Reap those of ``pids`` that were re-parented to us (a wrapper's own child, such as
    bubblewrap's init, once the wrapper is gone): as zombies they no longer carry the
    environment marker kill_strays looks for. Only POSIX has zombies to reap."""
    if not hasattr(os, "WNOHANG"):
        return
    deadline = time.monotonic() + patience
    pending = set(pids)
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not ours (its own parent reaps it), or already reaped
                done = pid
            if done:
                pending.discard(pid)
        if pending:
            time.sleep(0.01)


def kill_strays() -> None:
    """Kill orphans that were re-parented to us from a sandbox child's tree, and reap them;
    sandbox children still in use are not strays."""
    for _ in range(5):
        strays = {
            pid for pid, parent in _parents().items() if parent == os.getpid() and pid not in _live and _is_sandboxed(pid)
        }
        if not strays:
            return
        for pid in strays:
            _kill(descendants(pid) | {pid})
            try:
                psutil.Process(pid).wait(timeout=5)  # reaps it when it is our child
            except (psutil.NoSuchProcess, psutil.TimeoutExpired):
                pass


def _is_sandboxed(pid: int) -> bool:
    """True for processes carrying the sandbox's environment marker (inherited by default),
    or, on Linux, no_new_privs when the grader has none: the sandbox sets it and no
    descendant can clear it, so it survives a daemon that wipes its environment."""
    try:
        if psutil.Process(pid).environ().get("GRADER_SANDBOX") == "1":
            return True
    except (psutil.Error, OSError):
        pass
    return _no_new_privs(pid) and not _no_new_privs(os.getpid())


def _no_new_privs(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return "\nNoNewPrivs:\t1" in status.read()
    except OSError:  # gone, or not Linux
        return False
