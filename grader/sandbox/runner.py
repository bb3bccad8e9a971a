"""The parent side of the sandbox: start a child, send it probes, read plain data back.

One child serves many probes so an import is paid once; a probe that times out or
kills its child costs only itself: the child is killed (with everything it started)
and a fresh one serves the next probe.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from grader.plugin import Assignment, Outcome, Probe
from grader.sandbox import isolation, reaper
from grader.submission import Submission

MAX_ANSWER_BYTES = 32 << 20


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 2 << 30  # address space; torch needs about 1 GiB of it to import
    cpu_seconds: int = 600  # a backstop for the whole child; probes have their own wall-clock limits
    file_bytes: int = 16 << 20  # largest file the child may write
    output_bytes: int = 64 << 10  # printed output kept for feedback; the rest is read and dropped
    open_files: int = 256
    processes: int = 64  # processes and threads; a fork bomb stops here
    startup_seconds: float = 60.0  # time to start Python and import the probes (torch included)


class _Output:
    """Drains a pipe on a thread so a chatty child never blocks, keeping only a capped head."""

    def __init__(self, stream, cap: int):
        self.chunks: list[bytes] = []
        self.kept = 0
        self.dropped = 0
        self.cap = cap
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self.thread.start()

    def _drain(self, stream):
        for chunk in iter(lambda: stream.read1(65536), b""):
            with self.lock:
                room = self.cap - self.kept
                self.chunks.append(chunk[:room]) if room > 0 else None
                self.kept += min(room, len(chunk)) if room > 0 else 0
                self.dropped += max(0, len(chunk) - max(room, 0))

    def take(self) -> str:
        with self.lock:
            text = b"".join(self.chunks).decode("utf-8", "replace")
            if self.dropped:
                text += f"\n... ({self.dropped} more bytes of output dropped)"
            self.chunks, self.dropped = [], 0
            return text


class Child:
    """One sandboxed interpreter. It starts before it knows the submission (so a pool can
    warm it up) and owns a private scratch folder: ``src/`` for the submission's copy,
    ``work/`` for its current directory, home and temporary files."""

    def __init__(self, assignment: Assignment, limits: Limits | None = None, scratch: Path | None = None):
        self.limits = limits or Limits()
        self.owns_scratch = scratch is None
        self.scratch = Path(tempfile.mkdtemp(prefix="grader-")) if scratch is None else scratch
        workdir = self.scratch / "work"
        workdir.mkdir(exist_ok=True)
        answer_read, answer_write = os.pipe()
        command = [sys.executable, "-I", "-m", "grader.sandbox.child", assignment.probes, str(answer_write)]
        self.command, self.notes = isolation.wrap(command, scratch=self.scratch)
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(answer_write,),
            cwd=workdir,
            env=isolation.environment(workdir),
            preexec_fn=lambda: isolation.apply_limits(self.limits),
            start_new_session=True,
        )
        reaper.track(self.process.pid)
        os.close(answer_write)
        self.answers = os.fdopen(answer_read, "rb", buffering=0)
        self.output = _Output(self.process.stdout, self.limits.output_bytes)
        self.started = False
        self.buffer = b""
        self.blamed_module: str | None = None

    def attach(self, submission: Submission) -> None:
        """Tell the child where the submission's files are; it imports them lazily, per probe."""
        config = {
            "root": str(submission.root),
            "package": submission.package,
            "modules": submission.modules,
            "missing": submission.missing,
            "files": submission.files,
        }
        try:
            self._send(config)
        except OSError:
            pass  # a child that died at start-up is reported by the first call

    def _send(self, message: dict) -> None:
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()

    def call(self, probe: Probe) -> Outcome:
        """Run one probe. After a timeout or crash, ``blamed_module`` names the student
        module the child was importing at the time, if it was importing one."""
        self.blamed_module = None
        if not self.started:  # starting Python and importing the probes (torch too) has its own allowance
            ready = self._read_message(time.monotonic() + self.limits.startup_seconds)
            if ready is None or ready.get("event") != "ready":
                return self._crashed(self.output.take())
            self.started = True
        try:
            self._send({"function": probe.function, "args": dict(probe.args), "needs": list(probe.needs)})
        except OSError:
            return self._crashed()
        deadline, loading = time.monotonic() + probe.timeout, None
        while (message := self._read_message(deadline)) is not None:
            if "event" in message:
                loading = message.get("module")  # None again once "loaded"
                continue
            output = self.output.take()
            if message.get("status") not in ("ok", "error", "load_error"):
                return Outcome("crashed", error="the sandbox sent back something that is not a probe result", output=output)
            return Outcome(
                message["status"],
                value=message.get("value"),
                error=str(message.get("error", ""))[:2000],
                traceback=str(message.get("traceback", ""))[:4000],
                output=output,
            )
        self.blamed_module = loading
        try:  # the pipe closes a moment before a dying child (or its sandbox wrapper) has exited
            self.process.wait(timeout=0 if time.monotonic() >= deadline else 1)
        except subprocess.TimeoutExpired:
            limit = f"did not finish within {probe.timeout:g} s (an endless loop, or far too slow?)"
            return Outcome("timeout", error=limit, output=self.output.take())
        return self._crashed(self.output.take())

    def _read_message(self, deadline: float) -> dict | None:
        line = self._read_line(deadline)
        if line is None:
            return None
        try:
            message = json.loads(line)
        except ValueError:
            return {}
        return message if isinstance(message, dict) else {}

    def _read_line(self, deadline: float) -> bytes | None:
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or len(self.buffer) > MAX_ANSWER_BYTES:
                return None
            ready, _, _ = select.select([self.answers], [], [], remaining)
            if not ready:
                return None
            chunk = self.answers.read(1 << 20)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def _crashed(self, output: str = "") -> Outcome:
        try:
            code = isolation.decode_status(self.process.wait(timeout=5))
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            reason = f"the grading process was killed by signal {-code}"
            if -code in (9, 24):
                reason += " (it may have run out of memory or CPU time)"
        else:
            reason = f"the grading process exited (status {code}) before answering; does your code call exit()?"
        return Outcome("crashed", error=reason, output=output or self.output.take())

    def close(self, keep_scratch: bool = False) -> None:
        """Kill the child and everything it started; remove the scratch folder if it is ours
        (a replacement child for the same submission keeps it)."""
        reaper.kill_tree(self.process)
        for stream in (self.process.stdin, self.answers):
            try:
                stream.close()
            except OSError:
                pass
        if self.owns_scratch and not keep_scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def run_probes(
    assignment: Assignment, submission: Submission, probes: list[Probe], child: Child, limits: Limits | None = None
) -> tuple[dict[str, Outcome], list[str]]:
    """Run each probe in ``child`` (already attached to ``submission``), replacing the child
    whenever a probe times out or kills it. Returns (outcomes by probe key, isolation notes).
    Closes every child it used, so nothing started by student code is left running."""
    reaper.become_subreaper()
    outcomes: dict[str, Outcome] = {}
    notes = list(child.notes)
    broken: dict[str, str] = {}  # student module -> why importing it cannot succeed; not retried
    current: Child | None = child
    try:
        for probe in probes:
            blocked = [module for module in probe.needs if module in broken]
            if blocked:
                outcomes[probe.key] = Outcome("load_error", error=broken[blocked[0]])
                continue
            if current is None:
                current = Child(assignment, limits or child.limits, scratch=child.scratch)
                current.attach(submission)
            outcomes[probe.key] = outcome = current.call(probe)
            if outcome.status in ("timeout", "crashed"):
                if current.blamed_module:
                    where = submission.files.get(current.blamed_module, current.blamed_module)
                    joint = " " if outcome.status == "timeout" else " failed: "
                    broken[current.blamed_module] = f"could not load {where}: importing it{joint}{outcome.error}"
                    outcomes[probe.key] = Outcome("load_error", error=broken[current.blamed_module], output=outcome.output)
                current.close(keep_scratch=True)
                current = None
    finally:
        if current is not None:
            current.close(keep_scratch=True)
        child.close()  # and removes the scratch folder it owns
        reaper.kill_strays()
    return outcomes, notes
