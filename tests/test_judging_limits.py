"""A judge runs under limits (grader/judging.py): its own CPU time, a wall-clock backstop
that is the machine's fault when the CPU time was not used, and a memory cap.

The limits are made small here so that each test takes a fraction of a second; no test
asserts how long anything took.
"""

from __future__ import annotations

import time

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


def test_a_judge_past_its_cpu_time_is_overrun_even_through_its_own_except(small_limits, monkeypatch):
    monkeypatch.setattr(judging, "BACKSTOP_SECONDS", 120.0)  # however loaded the machine, the CPU limit comes first
    with pytest.raises(judging.Overrun, match=r"^judging it took more than 0.2 s of CPU time$"):
        judging.run_limited(spin)
    assert not issubclass(judging.Overrun, Exception)


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
        measured["own"] = time.thread_time()
        done.wait()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        read = judging._thread_cpu(thread)
        while "own" not in measured:
            time.sleep(0.01)
        # psutil reads clock ticks (10 ms); the main thread, which imported everything, has used far more
        assert measured["own"] - 0.02 <= read() <= measured["own"] + 0.05 and measured["own"] >= 0.1
    finally:
        done.set()
        thread.join()


@pytest.mark.skipif(resource is None, reason="no address-space limit on this platform")
def test_a_judge_asking_for_gigabytes_fails_at_once_and_the_limit_is_restored():
    before = resource.getrlimit(resource.RLIMIT_AS)
    with pytest.raises(MemoryError):
        judging.run_limited(bytearray, judging.MEMORY_BYTES + (256 << 20))
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert len(judging.run_limited(bytearray, 64 << 20)) == 64 << 20  # headroom is there for an honest judge
