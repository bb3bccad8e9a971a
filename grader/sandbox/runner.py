"""The parent side of the sandbox: start a child, send it probes, read plain data back.

One child serves many probes so an import is paid once; a probe that times out or
kills its child costs only itself: the child is killed (with everything it started)
and a fresh one serves the next probe.
"""

from __future__ import annotations

import json
import os
import select
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
    """One sandboxed interpreter holding the student's modules."""

    def __init__(self, assignment: Assignment, submission: Submission, workdir: Path, limits: Limits):
        answer_read, answer_write = os.pipe()
        config = {
            "answer_fd": answer_write,
            "root": str(submission.root),
            "package": submission.package,
            "modules": submission.modules,
            "missing": submission.missing,
            "files": submission.files,
            "probes": assignment.probes,
        }
        command = [sys.executable, "-I", "-m", "grader.sandbox.child", json.dumps(config)]
        self.command, self.notes = isolation.wrap(command, submission=submission.root, workdir=workdir)
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(answer_write,),
            cwd=workdir,
            env=isolation.environment(workdir),
            preexec_fn=lambda: isolation.apply_limits(limits),
            start_new_session=True,
        )
        os.close(answer_write)
        self.answers = os.fdopen(answer_read, "rb", buffering=0)
        self.output = _Output(self.process.stdout, limits.output_bytes)
        self.limits = limits
        self.started = False
        self.buffer = b""

    def call(self, probe: Probe) -> Outcome:
        request = {"function": probe.function, "args": dict(probe.args), "needs": list(probe.needs)}
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._crashed(probe)
        # The first call also pays for starting Python and importing the probes' libraries.
        allowance = probe.timeout + (0 if self.started else self.limits.startup_seconds)
        line = self._read_line(time.monotonic() + allowance)
        self.started = True
        output = self.output.take()
        if line is None:
            if self.process.poll() is None:
                return Outcome("timeout", error=f"did not finish within {probe.timeout:g} s (an endless loop, or far too slow?)", output=output)
            return self._crashed(probe, output)
        try:
            answer = json.loads(line)
            status = answer["status"]
            assert status in ("ok", "error", "load_error")
        except (ValueError, KeyError, TypeError, AssertionError):
            return Outcome("crashed", error="the sandbox sent back something that is not a probe result", output=output)
        return Outcome(
            status,
            value=answer.get("value"),
            error=str(answer.get("error", ""))[:2000],
            traceback=str(answer.get("traceback", ""))[:4000],
            output=output,
        )

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

    def _crashed(self, probe: Probe, output: str = "") -> Outcome:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            reason = f"the grading process was killed by signal {-code}"
            if -code in (9, 24):
                reason += " (it may have run out of memory or CPU time)"
        else:
            reason = f"the grading process exited (status {code}) before answering; does your code call exit()?"
        return Outcome("crashed", error=reason, output=output or self.output.take())

    def close(self) -> None:
        reaper.kill_tree(self.process)
        for stream in (self.process.stdin, self.answers):
            try:
                stream.close()
            except OSError:
                pass


def run_probes(
    assignment: Assignment, submission: Submission, probes: list[Probe], limits: Limits | None = None
) -> tuple[dict[str, Outcome], list[str]]:
    """Run each probe against the submission in a sandboxed child. Returns (outcomes by key, notes)."""
    limits = limits or Limits()
    reaper.become_subreaper()
    outcomes: dict[str, Outcome] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="grader-work-") as workdir:
        child: Child | None = None
        try:
            for probe in probes:
                if child is None:
                    child = Child(assignment, submission, Path(workdir), limits)
                    notes = child.notes
                outcomes[probe.key] = outcome = child.call(probe)
                if outcome.status in ("timeout", "crashed"):
                    child.close()
                    child = None
        finally:
            if child is not None:
                child.close()
            reaper.kill_strays()
    return outcomes, notes
