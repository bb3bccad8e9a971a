"""Limits that measure the student's work, not the machine's load, and answers and judging
that no hostile data can overrun.

No test here asserts on the wall clock: a starved probe is made with a fake short
backstop and a student that sleeps (no CPU); a runaway one with a student that spins.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from grader import assignments, judging
from grader.batch.gradebook import FAILED, GRADED, Gradebook
from grader.batch.run import needs_grading
from grader.batch.worker import Task, WarmGrader, grader_version
from grader.grade import grade, reference_outcomes
from grader.plugin import Check, Outcome, Probe, failed, passed
from grader.sandbox import answers, forkserver, runner
from grader.sandbox.runner import Child, Limits, run_probes
from grader.scoring import MACHINE_BUSY, score_check
from grader.submission import load

ROOT = Path(__file__).resolve().parent.parent
AUTODIFF = assignments.get("autodiff")
MEAN = "    def mean(self) -> float:\n"  # List2D.mean in the reference; tests put a first line in its body
ABS = "    def abs(self) -> List2D:\n"
SHORT_BACKSTOP = Limits(wall_factor=1.0, min_wall_seconds=0.5)  # a probe of 1 CPU second waits 1 s of wall time


@pytest.fixture(scope="module")
def checks():
    return AUTODIFF.checks()


def student(tmp_path: Path, mean: str = "", abs_: str = "") -> Path:
    """The reference autodiff solution with a first line put into List2D.mean and List2D.abs."""
    folder = tmp_path / "student"
    folder.mkdir()
    for name in AUTODIFF.modules.values():
        shutil.copy(AUTODIFF.reference_dir / name, folder / name)
    source = folder / "list2d.py"
    text = source.read_text()
    assert MEAN in text and ABS in text
    text = text.replace(MEAN, f"{MEAN}        {mean}\n" if mean else MEAN).replace(ABS, f"{ABS}        {abs_}\n" if abs_ else ABS)
    source.write_text(text)
    return folder


def probe_of(checks: list[Check], function: str, cpu_seconds: float) -> Probe:
    """The first probe of the student function's checks, with its own CPU time."""
    return replace(next(c.probe for c in checks if c.name.startswith(f"{function}:")), timeout=cpu_seconds)


def run(folder: Path, probes: list[Probe], limits: Limits | None = None, assignment=AUTODIFF) -> dict[str, Outcome]:
    child = Child(assignment, limits)
    submission = load(assignment, folder, child.scratch)
    child.attach(submission)
    return run_probes(assignment, submission, probes, child, limits)[0]


@pytest.fixture
def fresh_children(monkeypatch):
    """Counts the children run_probes starts to replace one (a retry starts one)."""
    started = []

    class Counted(Child):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(runner, "Child", Counted)
    return started


@pytest.fixture
def machine_starves(monkeypatch):
    """The machine keeps the child waiting for a core: its processes read as runnable while it
    uses no CPU (here it sleeps; only the busy machine's state is faked)."""
    from grader.sandbox.cputime import TreeCPU

    monkeypatch.setattr(TreeCPU, "runnable", lambda self: True)


# ---- time limits ------------------------------------------------------------------


def test_a_starved_probe_is_retried_in_a_fresh_child_then_ungraded_never_zero(tmp_path, checks, fresh_children, machine_starves):
    folder = student(tmp_path, mean="import time; time.sleep(600)")  # no CPU used, and (faked) waiting for a core
    report = grade(AUTODIFF, folder, limits=SHORT_BACKSTOP)
    mean = [r for r in report.results if r.function == "List2D.mean"]
    assert mean and all(r.ungraded and "could not be graded" in r.output and "try again" in r.output for r in mean)
    assert len(fresh_children) == 1  # the retry; the probes after it are not run
    assert report.ungraded and report.problem == MACHINE_BUSY
    assert not any(r.status == "failed" and not r.ungraded for r in report.results)  # nothing charged to the student
    assert "timeout" not in {o.status for o in report.outcomes.values()}


def test_code_that_waits_without_working_is_a_timeout_charged_to_the_student(tmp_path, checks, fresh_children):
    """Sleeping (or input(), or a lock) is not the machine's fault: the child was not runnable."""
    folder = student(tmp_path, mean="import time; time.sleep(600)")
    report = grade(AUTODIFF, folder, limits=SHORT_BACKSTOP)
    mean = [r for r in report.results if r.function == "List2D.mean"]
    assert mean and all(r.score == 0 and not r.ungraded and "without working" in r.output for r in mean)
    assert not report.ungraded
    assert all(r.score == r.max_score for r in report.results if r.function != "List2D.mean")


def test_the_message_of_a_starved_probe_is_the_same_every_run():
    assert runner.starved(Limits(), 3.0) == runner.starved(Limits(), 3.0)
    assert "30 s" not in runner.starved(Limits(), 3.0) and "60 s" in runner.starved(Limits(), 3.0)  # max(10 x 3, 60)
    assert "200 s" in runner.starved(Limits(), 20.0)


def test_a_start_up_that_runs_past_its_allowance_is_ungraded_not_charged(fresh_children, monkeypatch):
    """The start-up (Python and the probes' imports, torch for descent) runs no student code.
    A cold child pays it again on the retry, so both tries run out."""
    monkeypatch.setenv("GRADER_FORKSERVER", "0")
    descent = assignments.get("descent")
    limits = replace(SHORT_BACKSTOP, startup_seconds=0.0, min_wall_seconds=0.0)  # importing torch takes more than no time
    probes = list({c.probe.key: c.probe for c in descent.checks()}.values())[:2]
    outcomes = run(descent.reference_dir, probes, limits, descent)
    assert {o.status for o in outcomes.values()} == {"ungraded"}
    assert len(fresh_children) == 1


def test_a_zygote_start_up_past_the_allowance_costs_a_retry_not_points(fresh_children, monkeypatch):
    """Forked children: the first child waits for the zygote's own start-up (torch), which
    runs past a zero allowance; the retry is forked from the zygote, warm by then, at no cost."""
    monkeypatch.setenv("GRADER_FORKSERVER", "1")
    if not forkserver.enabled():
        pytest.skip("the fork server needs namespaces, root and Landlock here")
    descent = assignments.get("descent")
    limits = replace(SHORT_BACKSTOP, startup_seconds=0.0, min_wall_seconds=0.0)
    forkserver.stop_all()  # no zygote warmed by an earlier test
    probes = list({c.probe.key: c.probe for c in descent.checks()}.values())[:2]
    outcomes = run(descent.reference_dir, probes, limits, descent)
    assert {o.status for o in outcomes.values()} == {"ok"}
    assert len(fresh_children) == 1


def test_a_sandbox_that_fails_to_start_leaves_the_student_ungraded_not_zero(tmp_path, fresh_children):
    """A child that dies before it is ready has run none of the submission (here the probes
    it must import are missing, as on a broken install): retried once, then ungraded."""
    broken = replace(AUTODIFF, probes="grader.assignments.autodiff.probes_that_are_not_installed")
    probes = list({c.probe.key: c.probe for c in AUTODIFF.checks()}.values())[:2]
    outcomes = run(AUTODIFF.reference_dir, probes, assignment=broken)
    assert {o.status for o in outcomes.values()} == {"ungraded"}
    assert "failed to start" in next(iter(outcomes.values())).error
    assert len(fresh_children) == 1


def test_a_child_that_dies_after_student_code_ran_is_charged_to_the_student(tmp_path, checks):
    """Once the submission has run in the scratch folder, a replacement that cannot start
    may be the submission's doing (it could have changed its work folder): a crash, not ungraded."""
    folder = student(tmp_path, mean="import os; os._exit(3)")
    outcomes = run(folder, [probe_of(checks, "List2D.mean", 10.0)])
    assert [o.status for o in outcomes.values()] == ["crashed"] and "exit()" in next(iter(outcomes.values())).error


def test_scratch_folders_go_where_a_child_without_namespaces_can_reach_them(monkeypatch):
    """As root without namespaces the child runs as its own uid straight on the real file
    system: a TMPDIR under a private folder (mode 700) would be out of its reach."""
    from grader.sandbox import isolation

    base = Path(tempfile.mkdtemp(dir="/tmp"))  # not pytest's folder, which is private itself
    try:
        (base / "tmp").mkdir()
        base.chmod(0o700)
        monkeypatch.setattr(tempfile, "tempdir", str(base / "tmp"))
        monkeypatch.setattr(isolation, "probe", lambda: type("Plan", (), {"layers": isolation.Layers(None, True, 0)})())
        assert isolation.scratch_base() == "/tmp"
        base.chmod(0o711)
        assert isolation.scratch_base() == str(base / "tmp")
        monkeypatch.setattr(isolation, "probe", lambda: type("Plan", (), {"layers": isolation.Layers("unshare", True, 0)})())
        assert isolation.scratch_base() is None  # with namespaces the scratch folder is bound into the child's view
    finally:
        shutil.rmtree(base)


def test_a_probe_that_spins_past_its_cpu_time_is_a_timeout_charged_to_the_student(tmp_path, checks, fresh_children):
    spinning = student(tmp_path, mean="while True: pass", abs_="import subprocess, sys; subprocess.run([sys.executable, '-c', 'while True: pass'])")
    mean, abs_ = probe_of(checks, "List2D.mean", 0.5), probe_of(checks, "List2D.abs", 0.5)
    outcomes = run(spinning, [mean, abs_])  # the default backstop: 60 s of wall time for 0.5 s of CPU
    for probe in (mean, abs_):  # abs waits while a process it started spins: the tree's CPU time counts
        assert outcomes[probe.key].status == "timeout", outcomes[probe.key]
        assert outcomes[probe.key].error == "did not finish within 0.5 s of CPU time (an endless loop, or far too slow?)"
    assert len(fresh_children) == 1  # a timeout ends its child, and is not retried
    check = next(c for c in checks if c.probe.key == mean.key)
    result = score_check(check, outcomes[mean.key], reference_outcomes(AUTODIFF, [check.probe])[check.probe.key])
    assert result.score == 0 and not result.ungraded


def test_torch_computes_on_one_thread_in_the_child_and_in_the_grading_process(tmp_path, checks):
    folder = student(tmp_path, mean="import torch; raise ValueError(f'threads={torch.get_num_threads()}')")
    outcome = run(folder, [probe_of(checks, "List2D.mean", 30.0)])
    assert "threads=1" in next(iter(outcome.values())).error
    reference_outcomes(AUTODIFF, [checks[0].probe])
    import torch

    assert torch.get_num_threads() == 1


# ---- hostile answers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested more than"),
        (b"[" * 40 + b"]" * 40, "nested more than 32 deep"),
        (b'{"n": ' + b"9" * 4000 + b"}", "beyond"),
        (b'{"n": 9223372036854775809}', "beyond"),  # 2**63 + 1
        (b"[" + b"[]," * 600_000 + b"[]]", "more than 1,000,000 values"),
        (b'["' + b"x" * 300_000 + b'"]', "string longer than"),
        (b"[" + b"0," * 300_000 + b"0]", "longer than 200,000 items"),
        (b'"' + b"x" * (9 << 20) + b'"', "larger than 8 MiB"),
        (b'{"a": 1', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_an_answer_out_of_bounds_is_rejected_before_it_costs_memory(line, reason):
    with pytest.raises(answers.Rejected, match=reason):
        answers.decode(line)


def test_floats_decode_as_floats_nan_and_infinities_included():
    value = answers.decode(b'{"loss": [NaN, Infinity, -Infinity, 1e999, 0.5], "n": -9223372036854775808}')
    assert math.isnan(value["loss"][0]) and value["loss"][1:4] == [math.inf, -math.inf, math.inf]
    assert value["n"] == -(2**63)


def test_every_reference_answer_decodes_unchanged(checks):
    probes = list({c.probe.key: c.probe for c in checks}.values())
    for key, outcome in reference_outcomes(AUTODIFF, probes).items():
        assert answers.decode(json.dumps(outcome.value).encode()) == outcome.value, key


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("b'[' * 200_000", "nested more than"),
        ("b'{\"status\": \"ok\", \"value\": ' + b'9' * 5000 + b'}'", "beyond"),
        ("b'[' + b'[],' * 2_000_000 + b'[]]'", "more than 1,000,000 values"),
    ],
)
def test_a_hostile_answer_written_past_the_probe_fails_its_check_cleanly(tmp_path, checks, payload, reason):
    """Student code writes its own answer straight to the answer pipe (its fd is argv[2])."""
    folder = student(tmp_path, mean=f"import os, sys, time; os.write(int(sys.argv[2]), {payload} + b'\\n'); time.sleep(600)")
    [outcome] = run(folder, [probe_of(checks, "List2D.mean", 5.0)]).values()
    assert outcome.status == "crashed" and reason in outcome.error, outcome
    assert outcome.error.startswith("its answer could not be read")


# ---- judging under limits ---------------------------------------------------------


def judged(judge, value) -> object:
    probe = Probe("p", "f")
    return score_check(Check("Thing.f: judged", 1.0, probe, judge), Outcome("ok", value=value), Outcome("ok", value={}))


def test_a_judge_asked_for_gigabytes_fails_the_check_and_the_grader_goes_on():
    result = judged(lambda got, _: passed() if len(bytearray(got["n"])) else failed("no"), {"n": 3 << 30})
    assert result.score == 0 and not result.ungraded
    assert "the answer could not be judged (MemoryError" in result.output
    assert len(bytearray(judging.MEMORY_BYTES * 2)) > 0  # the address space is given back afterwards


def test_a_judge_that_runs_away_is_stopped_and_fails_the_check(monkeypatch):
    monkeypatch.setattr(judging, "CPU_SECONDS", 0.3)

    def endless(got, _):
        while True:
            try:
                got["n"] += 1
            except Exception:  # a judge's own broad except does not swallow the stop
                pass

    result = judged(endless, {"n": 0})
    assert result.score == 0 and not result.ungraded
    assert "the answer could not be judged (Overrun: judging it took more than 0.3 s of CPU time)" in result.output
    assert not [t for t in threading.enumerate() if t.name == "judge"]  # stopped, not left spinning


def test_a_judge_that_raises_on_hostile_data_fails_only_its_check():
    result = judged(lambda got, _: passed() if got["values"][0] > 1 else failed("small"), {"values": "x" * 100_000})
    assert result.score == 0 and "could not be judged (TypeError" in result.output and len(result.output) < 400


def test_a_judge_starved_of_cpu_is_ungraded_not_failed(monkeypatch):
    monkeypatch.setattr(judging, "BACKSTOP_SECONDS", 0.2)
    result = judged(lambda got, _: time.sleep(2) or passed(), {})  # sleeping uses no CPU, as a starved judge
    assert result.ungraded and "try again" in result.output


# ---- batch: a failed grading under a new grader ------------------------------------


def test_a_starved_grading_in_a_batch_leaves_the_student_ungraded_for_the_next_run(tmp_path, machine_starves):
    folder = student(tmp_path, mean="import time; time.sleep(600)")
    version = grader_version("autodiff")
    worker = WarmGrader("autodiff", SHORT_BACKSTOP)
    try:
        record = worker.grade(Task("autodiff", "sam", "sam", "h", version, path=str(folder), plots=False))
    finally:
        worker.close()
    assert record["state"] == FAILED and record["score"] is None
    assert "too busy" in record["problem"] and "graded again on the next run" in record["problem"]


def test_a_grading_that_fails_under_a_new_grader_does_not_keep_the_old_grade(tmp_path):
    check = {"name": "a", "score": 100.0, "max_score": 100.0, "status": "passed", "output": ""}
    forged = {"student": "eve", "state": GRADED, "hash": "h", "grader_version": "old", "score": 100.0, "max_score": 100.0, "seconds": 0.1, "checks": [check]}
    crashed = {**forged, "state": FAILED, "grader_version": "new", "score": None, "problem": "the grading worker died", "checks": []}
    with Gradebook(tmp_path / "g.db") as book:
        book.record("autodiff", forged)
        assert book.record("autodiff", crashed) is True
        [row] = book.submissions("autodiff")
        assert (row["state"], row["score"], row["grader_version"]) == (FAILED, None, "new")
        assert "earlier grade, 100/100" in row["problem"] and "no longer stands" in row["problem"]
        assert book.checks("autodiff") == []
        assert needs_grading(book.fingerprints("autodiff")["eve"], "h", "new", None)  # and the next run tries again
        book.record("autodiff", {**forged, "grader_version": "new", "score": 40.0})  # the new grader's real grade
        assert book.record("autodiff", {**crashed, "problem": "busy"}) is False  # a failed --regrade keeps it
        assert book.submissions("autodiff")[0]["score"] == 40.0


def test_a_new_file_version_that_fails_does_not_keep_the_old_files_grade(tmp_path):
    graded = {"student": "eve", "state": GRADED, "hash": "h1", "grader_version": "v", "score": 90.0, "max_score": 100.0, "seconds": 0.1, "checks": []}
    with Gradebook(tmp_path / "g.db") as book:
        book.record("autodiff", graded)
        assert book.record("autodiff", {**graded, "state": FAILED, "hash": "h2", "score": None, "problem": "crashed"}) is True
        assert book.submissions("autodiff")[0]["state"] == FAILED


def test_grade_command_tries_again_while_ungraded_and_exits_3_if_it_stays_so(tmp_path, monkeypatch, capsys):
    """`grade --attempts N` regrades a starved grade; a grade that stays starved is no score (exit 3)."""
    from grader.cli import grade as command
    from grader.scoring import CheckResult, GradeReport

    def report(ungraded: bool) -> GradeReport:
        result = CheckResult("List2D.mean: value", 10, 0.0 if ungraded else 10.0, "", ungraded=ungraded)
        return GradeReport("autodiff", "student", [result])

    made: list[GradeReport] = []

    def fake_grade(*args, **kwargs):
        made.append(report(ungraded=len(made) < starved))
        return made[-1]

    monkeypatch.setattr(command, "grade", fake_grade)
    submission = tmp_path / "student"
    submission.mkdir()
    parser = __import__("argparse").ArgumentParser()
    command.configure(parser)

    starved = 1  # the first attempt starves, the second grades
    args = parser.parse_args(["autodiff", str(submission), "--results", str(tmp_path / "r.json"), "--attempts", "3"])
    assert command.run(args) == 0 and len(made) == 2

    made.clear()
    starved = 5  # every attempt starves
    assert command.run(args) == command.UNGRADED and len(made) == 3
    assert "NOT GRADED" in capsys.readouterr().out
