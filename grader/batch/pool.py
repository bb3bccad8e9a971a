"""Parallel grading on this machine: N trusted worker processes, one submission each.

Workers are forked from a fork server that has already imported the grader, the
assignment's checks and torch, so starting one (at the beginning, or to replace one)
costs a fork rather than an interpreter start and a torch import. Each keeps a warm
sandbox (``worker.WarmGrader``): where the sandbox allows it, one zygote that forks
each student's child (grader/sandbox/forkserver.py). Student code runs only in those
children.

The main process hands one task to each idle worker and so always knows which
student a worker holds: a worker that dies or hangs costs only that student, who
gets a failure record (retried on the next run); the worker is replaced and the
batch goes on.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import signal
import time
import traceback
from collections import deque
from multiprocessing.connection import wait
from typing import Iterable, Iterator

from grader import assignments
from grader.batch.worker import Task, close_warm_graders, failure_record, grade_task, warm_grader
from grader.grade import one_thread_for_torch
from grader.sandbox import forkserver, reaper
from grader.sandbox.runner import Limits

DEFAULT_SUBMISSION_TIMEOUT = 900.0  # a backstop: each probe has its own limit well below this
MAX_STARTUP_FAILURES = 3


class WorkersCannotStart(RuntimeError):
    """The grader cannot even start a worker (an assignment or environment problem)."""


def _serve(conn, assignment: str, limits: Limits | None) -> None:
    """A worker process: warm up, then grade each task it is sent until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the main process, which stops us
    try:
        grader = warm_grader(assignment, limits)
        one_thread_for_torch()  # N workers already use N cores; torch's own thread pool would only contend
    except BaseException:
        conn.send(("broken", traceback.format_exc()))
        return
    try:
        conn.send(("ready", None))
        while True:
            try:
                task = conn.recv()
            except EOFError:  # the batch is gone (finished, or killed): stop
                break
            if task is None:
                break
            try:
                record = grade_task(task, limits)
            except Exception as error:
                record = failure_record(task, f"the grading worker failed ({type(error).__name__}: {error})", grader.checks)
            conn.send(("record", record))
    except OSError:  # the batch closed the pipe while we answered
        pass
    finally:
        close_warm_graders()
        forkserver.stop_all()  # a pool process ends without atexit handlers


def start_fork_server(assignment: str):
    """Start the process workers are forked from, if it is not running: it imports, once for
    every worker, the checks and the probes the reference runs in each (for descent, torch
    and its optimizer). Started early, it does so while this process plans the batch."""
    context = multiprocessing.get_context("forkserver")
    declared = assignments.declared(assignment)
    context.set_forkserver_preload(["grader.batch.worker", declared.checks_from.partition(":")[0], declared.probes])
    multiprocessing.forkserver.ensure_running()
    return context


class _Worker:
    def __init__(self, context, assignment: str, limits: Limits | None):
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, assignment, limits), daemon=True)
        self.process.start()
        theirs.close()
        self.ready = False
        self.task: Task | None = None
        self.since = 0.0

    def give(self, task: Task) -> None:
        self.conn.send(task)
        self.task, self.since = task, time.monotonic()

    def kill(self) -> None:
        """Kill the worker and everything under it (its sandboxes and what they started)."""
        pids = reaper.descendants(self.process.pid) | {self.process.pid}
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.process.join(10)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(15)
        if self.process.is_alive():
            self.kill()
        self.conn.close()


class LocalPool:
    """``with LocalPool("autodiff", jobs=4) as pool: for record in pool.grade(tasks): ...``"""

    def __init__(self, assignment: str, jobs: int, limits: Limits | None = None, submission_timeout: float = DEFAULT_SUBMISSION_TIMEOUT):
        self.assignment = assignment
        self.jobs = max(1, jobs)
        self.limits = limits
        self.submission_timeout = submission_timeout
        self.context = start_fork_server(assignment)
        self.workers: list[_Worker] = []
        self.startup_failures = 0

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, kind, error, trace) -> None:
        for worker in self.workers:
            worker.kill() if kind is not None else worker.stop()
        self.workers = []

    def grade(self, tasks: Iterable[Task]) -> Iterator[dict]:
        """Yield one record per task, in the order they finish."""
        pending = deque(tasks)
        while len(self.workers) < min(self.jobs, len(pending)):
            self.workers.append(_Worker(self.context, self.assignment, self.limits))
        while pending or any(w.task for w in self.workers):
            for worker in self.workers:
                if worker.ready and worker.task is None and pending:
                    worker.give(pending.popleft())
            wait([w.conn for w in self.workers] + [w.process.sentinel for w in self.workers], timeout=1.0)
            for index, worker in enumerate(self.workers):
                record, lost = self._check(worker)
                if record is not None:
                    yield record
                if lost is not None:
                    if worker.task is not None:
                        yield failure_record(worker.task, lost, None, time.monotonic() - worker.since)
                    self.workers[index] = _Worker(self.context, self.assignment, self.limits)

    def _check(self, worker: _Worker) -> tuple[dict | None, str | None]:
        """(a finished record, or None; why the worker was lost, or None)."""
        try:
            if worker.conn.poll():
                kind, payload = worker.conn.recv()
                if kind == "ready":
                    worker.ready = True
                elif kind == "broken":
                    raise WorkersCannotStart(f"a grading worker could not start:\n{payload}")
                else:
                    worker.task = None
                    return payload, None
                return None, None
        except (EOFError, OSError):
            pass  # it died; said below
        if not worker.process.is_alive() or worker.conn.closed:
            worker.process.join(1)
            return None, self._lost(worker, f"the grading worker died (exit code {worker.process.exitcode}) while grading this submission")
        if worker.task is not None and time.monotonic() - worker.since > self.submission_timeout:
            worker.kill()
            return None, self._lost(worker, f"grading took longer than {self.submission_timeout:g} s and was stopped")
        return None, None

    def _lost(self, worker: _Worker, reason: str) -> str:
        if worker.task is None:  # it died before grading anything: the grader itself is broken
            self.startup_failures += 1
            if self.startup_failures >= MAX_STARTUP_FAILURES:
                raise WorkersCannotStart(f"grading workers keep dying before their first submission: {reason}")
        return reason + "; it will be graded again on the next run"
