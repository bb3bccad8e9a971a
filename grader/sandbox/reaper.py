"""Make sure nothing a submission started outlives grading.

The child runs in its own session, so its process group is killed at once. A
process that left the group (``setsid``, double fork) is still a descendant, or,
once orphaned, is re-parented to us because we are a child subreaper; both are
found through /proc and killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
_live: set[int] = set()  # sandbox children still in use (a batch worker starts the next one early)


def track(pid: int) -> None:
    """A sandbox child that is in use: kill_strays leaves it alone until kill_tree ends it."""
    _live.add(pid)


def become_subreaper() -> None:
    """Orphans of our children become our children instead of init's (Linux only)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
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
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(process: subprocess.Popen) -> None:
    """Kill a sandbox child, its process group and every descendant; reap them."""
    _live.discard(process.pid)
    killed: set[int] = set()
    for _ in range(5):  # a fork bomb may add processes while we kill; go round until none are left
        tree = descendants(process.pid)
        try:
            os.killpg(process.pid, signal.SIGKILL)
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
    environment marker kill_strays looks for."""
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
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _is_sandboxed(pid: int) -> bool:
    """True for processes carrying the sandbox's environment marker (inherited by default),
    or no_new_privs when the grader has none: the sandbox sets it and no descendant can
    clear it, so it survives a daemon that wipes its environment."""
    try:
        if b"GRADER_SANDBOX=1" in Path(f"/proc/{pid}/environ").read_bytes():
            return True
        return _no_new_privs(f"/proc/{pid}/status") and not _no_new_privs("/proc/self/status")
    except OSError:
        return False


def _no_new_privs(status: str) -> bool:
    return "\nNoNewPrivs:\t1" in Path(status).read_text()
