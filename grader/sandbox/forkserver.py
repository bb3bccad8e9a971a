"""Fork servers: the sandbox started once, warm, and forked for each child.

Starting a sandbox child costs an interpreter and a torch import (seconds); forking a
process that already has them costs milliseconds. So where the sandbox allows it
(``enabled``), each
grading process keeps, per assignment and limits, a *zygote* (grader/sandbox/zygote.py):
one process inside the sandbox's namespaces with the probes imported and torch warmed,
which never runs student code. ``runner.Child`` asks it for a fork instead of starting a
sandbox; the fork confines itself (uid, mounts, Landlock, rlimits) before any student
code runs. Its stdin, output and answer pipe are pipes of the grading process, passed to
the zygote over a Unix socket, so the answers come straight from the child.

One child at a time per zygote: before each fork, and when a child is closed, the zygote
kills everything in its pid namespace but itself. A zygote that dies (a child that
brought it down) costs only that child's probe; the next child gets a fresh zygote.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from grader.sandbox import isolation, reaper

CLEAR_SECONDS = 10.0  # a zygote that cannot end its child's processes in this long is replaced
OUTPUT_KEPT = 4096  # the end of a zygote's own output, kept to say why it failed

_lock = threading.RLock()  # a zygote started under it makes the scratch root under it
_zygotes: dict[tuple, list[Zygote]] = {}
_root: Path | None = None


def enabled() -> bool:
    """Whether children are forked here without weakening the sandbox: that needs a pid
    namespace (so the zygote can end everything a child left), root's power to give each
    fork a uid and mount namespace of its own, and Landlock (the children's scratch folders
    share one folder in the zygote's view; each child's domain keeps it out of the others).
    Elsewhere each child is a sandbox of its own. ``GRADER_FORKSERVER=0`` turns it off."""
    layers = isolation.probe().layers
    wanted = os.environ.get("GRADER_FORKSERVER", "1") != "0"
    return wanted and isolation.LINUX and layers.namespaces is not None and layers.drop and layers.landlock > 0


def scratch_root() -> Path:
    """The folder holding this process's children's scratch folders (each zygote sees it
    read-only) and the zygotes' own ``work/``."""
    global _root
    with _lock:
        if _root is None:
            _root = Path(tempfile.mkdtemp(prefix="grader-forks-")).resolve()
            os.chmod(_root, 0o711)  # a child's uid may pass through to its own folder, never list the others
            (_root / "work").mkdir()
            atexit.unregister(stop_all)  # once, however often the root is made again
            atexit.register(stop_all)
        return _root


def serves(scratch: Path) -> bool:
    """Whether a child in ``scratch`` can be forked: the folder is one of ours."""
    return _root is not None and Path(scratch).resolve().parent == _root


def child_spec(scratch: Path) -> tuple[dict, list[str]]:
    """What the zygote makes of a child confined to ``scratch`` (its uid, its ``work/`` and
    Landlock rules), and the isolation notes, as ``isolation.wrap`` gives them."""
    plan = isolation.probe()
    refusal = plan.refusal()
    if refusal:
        raise isolation.IsolationRefused(refusal)
    scratch = Path(scratch).resolve()
    uid = isolation._sandbox_uid(scratch)
    isolation._prepare(scratch, uid)
    spec = {
        "uid": uid,
        "work": [str(scratch / "work"), isolation.WORK_BYTES],
        "landlock": isolation.View.for_scratch(scratch).landlock_rules() if plan.layers.landlock else [],
    }
    return spec, plan.notes(uid)


def _command(command: list[str], root: Path) -> list[str]:
    """``command`` (a zygote) started in the sandbox's namespaces. It stays root there,
    outside any Landlock domain, to confine each fork itself; it sees ``root`` read-only,
    and a ``work/`` of its own closed to the forks' uids."""
    plan = isolation.probe()
    refusal = plan.refusal()
    if refusal:
        raise isolation.IsolationRefused(refusal)
    return isolation._build(plan.layers, root, None, command, zygote=True)


class Zygote:
    """One fork server in its own sandbox, and the socket that asks it for children."""

    def __init__(self, probes: str, limits):
        root = scratch_root()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = [sys.executable, "-I", "-m", "grader.sandbox.zygote", probes, str(theirs.fileno()), json.dumps(asdict(limits))]
        work = root / "work"
        self.process = subprocess.Popen(
            _command(command, root),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # its supervisor ends the sandbox once nobody reads this
            stderr=subprocess.STDOUT,
            cwd=work,
            env=isolation.environment(work),
            pass_fds=(theirs.fileno(),),
            preexec_fn=lambda: isolation.apply_limits(limits),
            start_new_session=True,
        )
        theirs.close()
        reaper.track(self.process.pid)
        self.control = ours
        self.ids = itertools.count(1)
        self.events: dict[int, dict] = {}  # request id -> what the zygote said about it
        self.changed = threading.Condition()
        self.gone = False  # its socket closed, or it said something that is not its protocol
        self.busy = False
        self.output = b""
        threading.Thread(target=self._listen, daemon=True).start()
        threading.Thread(target=self._drain, daemon=True).start()

    def _listen(self) -> None:
        try:
            while packet := self.control.recv(4096):
                message = json.loads(packet)
                ident = next(message[key] for key in ("forked", "exited", "cleared", "ready") if key in message)
                with self.changed:
                    self.events.setdefault(ident if isinstance(ident, int) else 0, {}).update(message)
                    self.changed.notify_all()
        except (OSError, ValueError, StopIteration, TypeError):
            pass
        with self.changed:
            self.gone = True
            self.changed.notify_all()

    def _drain(self) -> None:
        for chunk in iter(lambda: self.process.stdout.read1(65536), b""):
            self.output = (self.output + chunk)[-OUTPUT_KEPT:]

    def alive(self) -> bool:
        return not self.gone and self.process.poll() is None

    def fork(self, request: dict, fds: list[int]) -> int:
        ident = next(self.ids)
        socket.send_fds(self.control, [json.dumps({"op": "fork", "id": ident, **request}).encode()], fds)
        return ident

    def event(self, ident: int) -> dict:
        with self.changed:
            return dict(self.events.get(ident, {}))

    def clear(self) -> bool:
        """Kill every process of the zygote's but itself; False if it did not say so in time."""
        ident = next(self.ids)
        deadline = time.monotonic() + CLEAR_SECONDS
        try:
            self.control.send(json.dumps({"op": "clear", "id": ident}).encode())
        except OSError:
            return False
        with self.changed:
            while "cleared" not in self.events.get(ident, {}) and not self.gone:
                if not self.changed.wait(max(0.0, deadline - time.monotonic())) and time.monotonic() >= deadline:
                    return False
            self.events.clear()  # nothing earlier is asked about again
            return not self.gone

    def stop(self) -> None:
        self.gone = True
        reaper.kill_tree(self.process)
        self.control.close()


def warm(probes: str, limits) -> None:
    """Start a zygote for ``probes`` ahead of need, unless one is there already."""
    with _lock:
        if not any(z.alive() for z in _zygotes.get((probes, limits), [])):
            _zygotes.setdefault((probes, limits), []).append(Zygote(probes, limits))


def _claim(probes: str, limits) -> Zygote:
    """An idle live zygote, marked busy; a fresh one if there is none."""
    with _lock:
        zygotes = _zygotes.setdefault((probes, limits), [])
        for zygote in [z for z in zygotes if not z.alive()]:
            zygotes.remove(zygote)
            zygote.stop()
        for zygote in zygotes:
            if not zygote.busy:
                zygote.busy = True
                return zygote
        zygote = Zygote(probes, limits)
        zygote.busy = True
        zygotes.append(zygote)
        return zygote


def stop_all() -> None:
    """Stop every zygote of this process and remove their scratch root (a later child makes a new one)."""
    global _root
    with _lock:
        for zygote in [z for zygotes in _zygotes.values() for z in zygotes]:
            zygote.stop()
        _zygotes.clear()
        if _root is not None:
            shutil.rmtree(_root, ignore_errors=True)
            _root = None


class Forked:
    """A child forked by a zygote, standing in for the ``Popen`` of a sandbox of its own:
    ``stdin``, ``stdout``, ``pid`` (the zygote's sandbox: its tree's CPU time is the
    child's, orphans included), ``poll``, ``wait`` and ``kill``. The fork is asked for by
    ``start``, so a child can be made ahead of need while the zygote still serves another."""

    def __init__(self, probes: str, limits, request: dict, answer_write: int):
        stdin_read, stdin_write = os.pipe()
        output_read, output_write = os.pipe()
        self.stdin = os.fdopen(stdin_write, "wb")
        self.stdout = os.fdopen(output_read, "rb")
        self.theirs = [stdin_read, output_write, os.dup(answer_write)]
        self.probes, self.limits, self.request = probes, limits, request
        self.zygote: Zygote | None = None
        self.ident: int | None = None
        self.pid: int | None = None
        self.args = ["grader.sandbox.zygote", probes]  # for subprocess.TimeoutExpired

    def start(self) -> None:
        if self.zygote is not None:
            return
        self.zygote = _claim(self.probes, self.limits)
        self.pid = self.zygote.process.pid
        try:
            self.ident = self.zygote.fork(self.request, self.theirs)
        except OSError:  # it died, or could not take the request: the child is reported as crashed
            self.zygote.stop()
        finally:
            self._close_theirs()

    def _close_theirs(self) -> None:
        for fd in self.theirs:
            os.close(fd)
        self.theirs = []

    def poll(self) -> int | None:
        if self.zygote is None:
            return None
        event = self.zygote.event(self.ident) if self.ident is not None else {}
        if "exited" in event:
            return event.get("code") if type(event.get("code")) is int else 1
        if not self.zygote.alive():  # the zygote died, and the child with it
            status = self.zygote.process.poll()
            return status if status is not None else -signal.SIGKILL
        return None

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.02)
        return code

    def kill(self) -> None:
        """End the child and everything it started; the zygote serves the next child, or is
        replaced if it cannot say it ended them."""
        if self.zygote is None:
            self._close_theirs()
            return
        if not self.zygote.alive() or not self.zygote.clear():
            self.zygote.stop()
        self.zygote.busy = False
