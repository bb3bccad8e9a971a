"""A judge runs under limits (grader/judging.py): its own CPU time, a wall-clock backstop
that is the machine's fault when the CPU time was not used, and a memory cap.

The limits are made small here so that each test takes a fraction of a second; no test
asserts how long anything took.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from grader import judging

try:
    import resource
except ImportError:
    resource = None


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setattr(judging, "CPU_SECONDS", 0.2)
    monkeypatch.setattr(judging, "BACKSTOP_SECONDS", 0.5)
    monkeypatch.setattr(judging, "POLL_SECONDS", 0.01)


def test_a_judge_gives_its_value_or_its_own_exception():
    assert judging.run_limited(lambda a, b: a + b, 2, 3) == 5
    error = KeyError("k")

    def raises():
        raise error

    with pytest.raises(KeyError) as caught:
        judging.run_limited(raises)
    assert caught.value is error


def spin(seconds: float = 60.0):
    """Burns CPU for up to ``seconds`` of this thread's CPU time, swallowing what it can."""
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        try:
            sum(range(1000))
        except Exception:  # a judge's own handler: Overrun must pass through it
            pass


def watched(judge, seen: dict):
    """``judge`` noting in ``seen`` the thread it ran on and the exception that ended it, if one did."""

    def run(*args):
        seen["thread"] = threading.current_thread()
        try:
            return judge(*args)
        except BaseException as error:
            seen["ended by"] = error
            raise

    return run


def test_a_judge_past_its_cpu_time_is_overrun_even_through_its_own_except(small_limits, monkeypatch):
    monkeypatch.setattr(judging, "BACKSTOP_SECONDS", 120.0)  # however loaded the machine, the CPU limit comes first
    judge = {}
    with pytest.raises(judging.Overrun, match=r"^judging it took more than 0.2 s of CPU time$"):
        judging.run_limited(watched(spin, judge), 10.0)  # 50 times its limit: it ends by itself only if never stopped
    judge["thread"].join()
    # stopped, in its own thread, by an Overrun its `except Exception` let through
    assert type(judge.get("ended by")) is judging.Overrun and judge["thread"] is not threading.current_thread()
    assert not issubclass(judging.Overrun, Exception)


def test_a_judge_stuck_in_c_is_left_behind_and_stopped_when_it_returns(small_limits):
    blocker = threading.Lock()
    blocker.acquire()
    safety = threading.Timer(60.0, blocker.release)  # only a stop for a broken test, which would wait for the judge
    safety.start()
    judge = {}
    try:
        with pytest.raises(judging.Starved):
            judging.run_limited(watched(blocker.acquire, judge))  # no bytecode runs until it returns
        still_stuck = judge["thread"].is_alive()
    finally:
        safety.cancel()
    if still_stuck:
        blocker.release()
    judge["thread"].join()
    assert still_stuck  # the grader went on without waiting for the judge
    assert type(judge.get("ended by")) is judging.Overrun  # and the stop landed once it returned


def test_a_judge_runs_on_a_daemon_thread_named_judge():
    thread = judging.run_limited(threading.current_thread)
    # the name finds a judge left running (threading.enumerate, a debugger's thread list); the
    # test below shows what daemon is for, but runs in a subprocess, which a mutation run cannot follow
    assert thread is not threading.current_thread() and thread.name == "judge" and thread.daemon


def test_a_judge_stuck_in_c_does_not_keep_the_interpreter_alive_at_exit():
    script = (
        "import threading\n"
        "from grader import judging\n"
        "judging.BACKSTOP_SECONDS = 0.2\n"
        "try:\n"
        "    judging.run_limited(threading.Event().wait)  # blocked in C for ever: the stop never lands\n"
        "except judging.Starved:\n"
        "    print('starved')\n"
    )
    grader_parent = Path(judging.__file__).resolve().parents[1]  # the child imports the grader this test imported
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(grader_parent)},
                          capture_output=True, text=True, timeout=120)  # only a stop for a broken test
    assert (done.returncode, done.stdout) == (0, "starved\n"), done.stderr


def test_a_judge_within_its_cpu_time_finishes(small_limits, monkeypatch):
    monkeypatch.setattr(judging, "BACKSTOP_SECONDS", 120.0)
    assert judging.run_limited(spin, 0.05) is None


def test_a_judge_that_waits_without_working_is_starved_not_overrun(small_limits):
    with pytest.raises(judging.Starved, match=r"^judging waited 0.5 s without using its 0.2 s of CPU time$"):
        judging.run_limited(time.sleep, 3)


def test_without_a_thread_clock_the_backstop_is_the_limit(small_limits, monkeypatch):
    monkeypatch.setattr(judging, "_thread_cpu", lambda thread: lambda: None)
    with pytest.raises(judging.Overrun, match=r"^judging it took more than 0.5 s$"):
        judging.run_limited(time.sleep, 3)


@pytest.mark.parametrize("clock", ["pthread", "psutil"])
def test_the_thread_clock_reads_the_judges_own_cpu_time(clock, monkeypatch):
    import threading

    if clock == "psutil":  # as on Windows and macOS
        monkeypatch.delattr(time, "pthread_getcpuclockid", raising=False)
    done, measured = threading.Event(), {}

    def work():
        spin(0.1)
        started = time.thread_time()
        while time.thread_time() - started < 0.1:  # system time as well: the kernel fills the buffer
            os.urandom(1 << 16)
        measured["own"] = time.thread_time()
        done.wait()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        read = judging._thread_cpu(thread)
        while "own" not in measured:
            time.sleep(0.01)
        # psutil reads clock ticks (10 ms); the main thread, which imported everything, has used far more
        assert measured["own"] - 0.02 <= read() <= measured["own"] + 0.05 and measured["own"] >= 0.2
    finally:
        done.set()
        thread.join()


@pytest.mark.parametrize("clock", ["pthread", "psutil"])
def test_the_thread_clock_of_a_judge_that_has_ended_reads_nothing(clock, monkeypatch):
    if clock == "psutil":
        monkeypatch.delattr(time, "pthread_getcpuclockid", raising=False)
    finish = threading.Event()
    thread = threading.Thread(target=finish.wait)
    thread.start()
    read = judging._thread_cpu(thread)
    finish.set()
    thread.join()
    for _ in range(6000):  # join returns as the thread ends; wait until the system agrees (a stop for a broken test)
        if all(t.id != thread.native_id for t in psutil.Process().threads()):
            break
        time.sleep(0.01)
    assert read() is None


@pytest.mark.skipif(resource is None, reason="no address-space limit on this platform")
def test_a_judge_asking_for_gigabytes_fails_at_once_and_the_limit_is_restored():
    before = resource.getrlimit(resource.RLIMIT_AS)
    with pytest.raises(MemoryError):
        judging.run_limited(bytearray, judging.MEMORY_BYTES + (256 << 20))
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert len(judging.run_limited(bytearray, 64 << 20)) == 64 << 20  # headroom is there for an honest judge
