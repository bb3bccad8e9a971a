"""The parent side of the sandbox: start a child, send it probes, read plain data back.

One child serves many probes so an import is paid once; a probe that times out or
kills its child costs only itself: the child is killed (with everything it started)
and a fresh one serves the next probe.

Limits count the CPU time of the child's process tree (``cputime``), so they measure
the student's work, not the machine's load. The wall clock is only a backstop, far
above them: a probe that reaches it without using its CPU time was starved by the
machine. That is the grader's failure, never the student's: the probe is tried once
more in a fresh child, and if it is starved again it is "ungraded" (try again later).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from grader.plugin import Assignment, Outcome, Probe
from grader.sandbox import answers, forkserver, isolation, reaper
from grader.sandbox.cputime import TreeCPU
from grader.submission import Submission

POLL_SECONDS = 0.2  # how often a running probe's CPU time is read


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 2 << 30  # address space; torch needs about 1 GiB of it to import
    cpu_seconds: int = 600  # a backstop for the whole child; probes have their own CPU limits
    file_bytes: int = 16 << 20  # largest file the child may write
    output_bytes: int = 64 << 10  # printed output kept for feedback; the rest is read and dropped
    open_files: int = 256
    processes: int = 64  # processes and threads; a fork bomb stops here
    startup_seconds: float = 60.0  # CPU time to start Python and import the probes (torch included)
    wall_factor: float = 10.0  # the wall-clock backstop is this many times a CPU limit,
    min_wall_seconds: float = 60.0  # and at least this long

    def backstop(self, cpu_seconds: float) -> float:
        return max(self.wall_factor * cpu_seconds, self.min_wall_seconds)


def starved(limits: Limits, cpu_seconds: float) -> str:
    """Why a probe is ungraded: fixed numbers only, so the message is the same every run."""
    return (
        f"could not be graded: twice it waited {limits.backstop(cpu_seconds):g} s for a processor without using its "
        f"{cpu_seconds:g} s of CPU time, so the machine was too busy; try again"
    )


class _Budget:
    """One phase's limits: CPU seconds of the child's tree, and the wall-clock backstop."""

    def __init__(self, meter: TreeCPU, cpu_seconds: float, limits: Limits):
        self.meter, self.cpu_seconds = meter, cpu_seconds
        self.start = meter.seconds(refresh=False)  # each probe starts with one; most answer before a refresh
        self.deadline = time.monotonic() + limits.backstop(cpu_seconds)
        self.samples = self.runnable_samples = 0

    def used(self) -> float:
        return max(0.0, self.meter.seconds(refresh=False) - self.start)

    def spent(self) -> str | None:
        """"cpu" once the child used its CPU time; at the backstop, "wall" if the child was mostly
        runnable (the machine starved it) or "idle" if it mostly slept (it waited for something:
        input(), sleep, a lock); else None."""
        if self.meter.seconds() - self.start > self.cpu_seconds:
            return "cpu"
        self.samples += 1
        self.runnable_samples += self.meter.runnable()
        if time.monotonic() < self.deadline:
            return None
        return "wall" if 2 * self.runnable_samples >= self.samples else "idle"


class _Output:
    """Drains a pipe on a thread so a chatty child never blocks, keeping only a capped head."""

    CATCH_UP_SECONDS = 3.0  # at most this long for output already in the pipe when an answer came (a busy machine may lag)

    def __init__(self, stream, cap: int):
        self.chunks: list[bytes] = []
        self.kept = 0
        self.dropped = 0
        self.cap = cap
        self.lock = threading.Lock()
        self.stream = stream
        self.waiting = False  # the thread is about to read, with everything it read before kept
        self.thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self.thread.start()

    def _drain(self, stream):
        while True:
            with self.lock:
                self.waiting = True
            chunk = stream.read1(65536)
            with self.lock:
                self.waiting = False
                if not chunk:
                    return
                room = self.cap - self.kept
                self.chunks.append(chunk[:room]) if room > 0 else None
                self.kept += min(room, len(chunk)) if room > 0 else 0
                self.dropped += max(0, len(chunk) - max(room, 0))

    def _catch_up(self) -> None:
        """The child flushes its output before it answers: wait (briefly) until what it
        printed is read, so a probe's output is not taken before it arrives (POSIX only:
        Windows cannot poll a pipe)."""
        if sys.platform == "win32":
            return
        import select

        deadline = time.monotonic() + self.CATCH_UP_SECONDS
        while time.monotonic() < deadline and self.thread.is_alive():
            with self.lock:
                try:
                    if self.waiting and not select.select([self.stream], [], [], 0)[0]:
                        return
                except (OSError, ValueError):  # closed: nothing more to read
                    return
            time.sleep(0.005)

    def take(self) -> str:
        self._catch_up()
        with self.lock:
            text = b"".join(self.chunks).decode("utf-8", "replace")
            if self.dropped:
                text += f"\n... ({self.dropped} more bytes of output dropped)"
            self.chunks, self.dropped = [], 0
            return text


class _AnswerPipe:
    """The child's answer pipe, drained on a thread into a bounded queue. A plain blocking read
    works on every platform (``select`` on a pipe does not on Windows), and a full queue stops
    the reading, so a flood of answers holds at most about ``answers.MAX_BYTES`` here."""

    CHUNK = 1 << 20

    def __init__(self, fd: int):
        self.stream = os.fdopen(fd, "rb", buffering=0)
        self.chunks: queue.Queue[bytes] = queue.Queue(maxsize=answers.MAX_BYTES // self.CHUNK + 2)
        self.closed = False
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        try:
            while chunk := self.stream.read(self.CHUNK):
                self._put(chunk)
        except (OSError, ValueError):  # closed while reading: the child is being put away
            pass
        self._put(b"")  # end of the pipe

    def _put(self, chunk: bytes) -> None:
        while not self.closed:
            try:
                self.chunks.put(chunk, timeout=POLL_SECONDS)
                return
            except queue.Full:
                continue

    def get(self, timeout: float) -> bytes | None:
        """The next bytes; b"" once the pipe has closed; None if nothing came within ``timeout``."""
        try:
            return self.chunks.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.closed = True
        self.stream.close()


def _spawn_options(answer_write: int, limits: Limits) -> tuple[str, dict]:
    """How the child is started here: (its answer pipe as it names it, Popen options)."""
    if sys.platform == "win32":  # students' self-checks: handles, not descriptors, and no rlimits
        import msvcrt

        handle = msvcrt.get_osfhandle(answer_write)
        os.set_handle_inheritable(handle, True)
        startup = subprocess.STARTUPINFO()
        startup.lpAttributeList = {"handle_list": [handle]}
        return str(handle), {"startupinfo": startup, "creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return str(answer_write), {
        "pass_fds": (answer_write,),
        "preexec_fn": lambda: isolation.apply_limits(limits),
        "start_new_session": True,
    }


class Child:
    """One sandboxed interpreter. It starts before it knows the submission (so a pool can
    warm it up) and owns a private scratch folder: ``src/`` for the submission's copy,
    ``work/`` for its current directory, home and temporary files."""

    def __init__(self, assignment: Assignment, limits: Limits | None = None, scratch: Path | None = None, untouched: bool | None = None):
        self.limits = limits or Limits()
        self.owns_scratch = scratch is None
        # No student code has run in this scratch folder yet, so a failed start is the machine's
        self.untouched = self.owns_scratch if untouched is None else untouched
        forked = forkserver.enabled() and (scratch is None or forkserver.serves(scratch))
        if scratch is None:
            scratch = Path(tempfile.mkdtemp(prefix="grader-", dir=forkserver.scratch_root() if forked else isolation.scratch_base()))
        self.scratch = scratch
        workdir = self.scratch / "work"
        workdir.mkdir(exist_ok=True)
        answer_read, answer_write = os.pipe()
        self.meter: TreeCPU | None = None
        if forked:  # forked from a warm sandbox when the child is first needed; started now if there is none
            request, self.notes = forkserver.child_spec(self.scratch)
            request["environment"] = isolation.environment(workdir)
            self.process = forkserver.Forked(assignment.probes, self.limits, request, answer_write)
            forkserver.warm(assignment.probes, self.limits)
        else:
            answer_name, spawn = _spawn_options(answer_write, self.limits)
            command = [sys.executable, "-I", "-m", "grader.sandbox.child", assignment.probes, answer_name]
            command, self.notes = isolation.wrap(command, scratch=self.scratch)
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=isolation.environment(workdir),
                **spawn,
            )
            reaper.track(self.process.pid)
            self.meter = TreeCPU(self.process.pid)
        self.stopped_by: str | None = None  # why the last read gave up: "cpu", "wall", "idle", or None (the pipe closed)
        os.close(answer_write)
        self.answers = _AnswerPipe(answer_read)
        self.output = _Output(self.process.stdout, self.limits.output_bytes)
        self.started = False
        self.buffer = b""
        self.blamed_module: str | None = None

    def _begin(self) -> None:
        """A forked child is asked for when first needed: the zygote may still serve another."""
        if self.meter is None:
            self.process.start()
            self.meter = TreeCPU(self.process.pid)

    def attach(self, submission: Submission) -> None:
        """Tell the child where the submission's files are; it imports them lazily, per probe."""
        self._begin()
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
        self._begin()
        if not self.started:  # starting Python and importing the probes (torch too) has its own allowance
            try:
                ready = self._read_message(_Budget(self.meter, self.limits.startup_seconds, self.limits))
            except answers.Rejected:
                ready = None
            if ready is None and self.stopped_by is not None:  # no student code has run yet: never the student's fault
                return Outcome("ungraded", error=starved(self.limits, self.limits.startup_seconds), output=self.output.take())
            if ready is None or ready.get("event") != "ready":
                if self.untouched:
                    return Outcome("ungraded", error=f"the sandbox failed to start, before running any of the submission's code "
                                   f"({self._exit_reason()}); the grading machine failed, not the submission", output=self.output.take())
                return self._crashed(self.output.take())
            self.started = True
        try:
            self._send({"function": probe.function, "args": dict(probe.args), "needs": list(probe.needs)})
        except OSError:
            return self._crashed()
        budget, loading = _Budget(self.meter, probe.timeout, self.limits), None
        try:
            while (message := self._read_message(budget)) is not None:
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
                    seconds=round(budget.used(), 4),
                )
        except answers.Rejected as reason:
            return Outcome("crashed", error=f"its answer could not be read: {reason}", output=self.output.take())
        if self.stopped_by == "wall":
            return Outcome("ungraded", error=starved(self.limits, probe.timeout), output=self.output.take())
        self.blamed_module = loading
        if self.stopped_by == "cpu":
            limit = f"did not finish within {probe.timeout:g} s of CPU time (an endless loop, or far too slow?)"
            return Outcome("timeout", error=limit, output=self.output.take())
        if self.stopped_by == "idle":
            waited = f"waited {self.limits.backstop(probe.timeout):g} s without working (input(), time.sleep, a lock?)"
            return Outcome("timeout", error=waited, output=self.output.take())
        return self._crashed(self.output.take())

    def _read_message(self, budget: _Budget) -> dict | None:
        """The next message, or None: the pipe closed or the budget ran out (``stopped_by`` says which).
        Raises answers.Rejected for an answer the grading process will not decode."""
        line = self._read_line(budget)
        if line is None:
            return None
        message = answers.decode(line)
        if not isinstance(message, dict):
            raise answers.Rejected("it is not a JSON object")
        return message

    def _read_line(self, budget: _Budget) -> bytes | None:
        self.stopped_by = None
        checked = time.monotonic()
        while b"\n" not in self.buffer:
            if len(self.buffer) > answers.MAX_BYTES:
                raise answers.Rejected(f"it is larger than {answers.MAX_BYTES >> 20} MiB")
            chunk = self.answers.get(POLL_SECONDS)
            if chunk is None or time.monotonic() - checked >= POLL_SECONDS:  # a trickle of bytes is still checked
                checked = time.monotonic()
                if self.process.poll() is not None:  # it died, though something it started holds the pipe
                    return None
                self.stopped_by = budget.spent()
                if self.stopped_by:
                    return None
            if chunk is None:
                continue
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def _crashed(self, output: str = "") -> Outcome:
        reason = self._exit_reason()
        if reason.startswith("the grading process exited"):
            reason += "; does your code call exit()?"
        return Outcome("crashed", error=reason, output=output or self.output.take())

    def _exit_reason(self) -> str:
        try:
            code = isolation.decode_status(self.process.wait(timeout=5))
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return "the grading process stopped answering (it closed its answer channel)"
        if code < 0:
            reason = f"the grading process was killed by signal {-code}"
            return reason + " (it may have run out of memory or CPU time)" if -code in (9, 24) else reason
        return f"the grading process exited (status {code}) before answering"

    def close(self, keep_scratch: bool = False) -> None:
        """Kill the child and everything it started; remove the scratch folder if it is ours
        (a replacement child for the same submission keeps it)."""
        if isinstance(self.process, forkserver.Forked):
            self.process.kill()
        else:
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
    whenever a probe times out, kills it or is starved. A starved probe is tried once more
    in a fresh child; starved again, it and every probe after it are "ungraded" (the whole
    grade is to be tried again, so they are not run). Returns (outcomes by probe key,
    isolation notes). Closes every child it used, so nothing started by student code is left running."""
    reaper.become_subreaper()
    outcomes: dict[str, Outcome] = {}
    notes = list(child.notes)
    broken: dict[str, str] = {}  # student module -> why importing it cannot succeed; not retried
    busy: Outcome | None = None  # the probe the machine starved twice
    ran = False  # whether any student code has run in the scratch folder
    current: Child | None = child
    try:
        for probe in probes:
            blocked = [module for module in probe.needs if module in broken]
            if blocked:
                outcomes[probe.key] = Outcome("load_error", error=broken[blocked[0]])
                continue
            if busy is not None:
                outcomes[probe.key] = Outcome("ungraded", error=busy.error)
                continue
            for _ in range(2):  # a starved probe gets one more try
                if current is None:
                    current = Child(assignment, limits or child.limits, scratch=child.scratch, untouched=not ran)
                    current.attach(submission)
                outcome = current.call(probe)
                ran = ran or current.started
                if outcome.status in ("timeout", "crashed", "ungraded"):
                    if current.blamed_module:
                        where = submission.files.get(current.blamed_module, current.blamed_module)
                        joint = " " if outcome.status == "timeout" else " failed: "
                        broken[current.blamed_module] = f"could not load {where}: importing it{joint}{outcome.error}"
                        outcome = Outcome("load_error", error=broken[current.blamed_module], output=outcome.output)
                    current.close(keep_scratch=True)
                    current = None
                if outcome.status != "ungraded":
                    break
            outcomes[probe.key] = outcome
            if outcome.status == "ungraded":
                busy = outcome
    finally:
        if current is not None:
            current.close(keep_scratch=True)
        child.close()  # and removes the scratch folder it owns
        reaper.kill_strays()
    return outcomes, notes
