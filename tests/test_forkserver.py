"""The fork server (grader/sandbox/forkserver.py, zygote.py): children forked one after
another from one warm zygote stay as separate as children that each had a sandbox.

Each student here is the reference autodiff solution with code run when its module is
imported; what that code saw comes back in the probe's printed output. Skipped where the
fork server is not used (no pid namespace, or no uid to give each fork).
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import psutil
import pytest

from grader import assignments
from grader.sandbox import forkserver, reaper
from grader.sandbox.runner import Child, Limits, run_probes
from grader.submission import load

AUTODIFF = assignments.get("autodiff")
REPORT = "FORKSERVER-TEST:"  # the line a student's code prints what it saw on


@pytest.fixture(autouse=True)
def fork_server(monkeypatch):
    monkeypatch.setenv("GRADER_FORKSERVER", "1")
    if not forkserver.enabled():
        pytest.skip("this configuration does not fork children from a zygote (it starts a sandbox for each)")


@pytest.fixture(scope="module")
def probe():
    """The first probe that imports list2d.py, where each student's code runs."""
    return next(c.probe for c in AUTODIFF.checks() if tuple(c.probe.needs) == ("list2d",))


def student(tmp_path: Path, name: str, code: str) -> Path:
    """The reference solution with ``code`` run at the end of list2d.py (when it is imported)."""
    folder = tmp_path / name
    folder.mkdir()
    for module in AUTODIFF.modules.values():
        shutil.copy(AUTODIFF.reference_dir / module, folder / module)
    source = folder / "list2d.py"
    source.write_text(source.read_text() + "\n" + textwrap.dedent(code))
    return folder


def graded(folder: Path, probe, scratch_seen: list | None = None):
    """Run ``probe`` on ``folder`` in a forked child; (outcome, what the student reported)."""
    child = Child(AUTODIFF)
    if scratch_seen is not None:
        scratch_seen.append(child.scratch)
    submission = load(AUTODIFF, folder, child.scratch)
    child.attach(submission)
    outcome = run_probes(AUTODIFF, submission, [probe], child)[0][probe.key]
    lines = [line.removeprefix(REPORT) for line in outcome.output.splitlines() if line.startswith(REPORT)]
    return outcome, json.loads(lines[-1]) if lines else None


def zygotes() -> list[psutil.Process]:
    """This test process's zygotes, seen from outside."""
    mine = reaper.descendants(os.getpid())
    found = []
    for pid in mine:
        try:
            if psutil.Process(pid).cmdline()[2:4] == ["-m", "grader.sandbox.zygote"]:
                found.append(psutil.Process(pid))
        except psutil.Error:
            continue
    return found


def test_children_are_forked_from_one_warm_zygote(tmp_path, probe):
    first, _ = graded(student(tmp_path, "a", ""), probe)
    before = {z.pid for z in zygotes()}  # one per assignment and limits; other tests' may be there
    second, _ = graded(student(tmp_path, "b", ""), probe)
    assert first.status == second.status == "ok"
    assert before and {z.pid for z in zygotes()} == before


LEAVE_TRACES = f"""
    import json, os, time
    for folder in (os.getcwd(), os.environ["HOME"], os.environ["TMPDIR"]):
        with open(os.path.join(folder, "secret-of-a.txt"), "w") as f:
            f.write("a's answers")
    if os.fork() == 0:  # a daemon: double fork, its own session
        os.setsid()
        if os.fork() == 0:
            time.sleep(300)
        os._exit(0)
    time.sleep(0.2)
    print("{REPORT}" + json.dumps({{"pid": os.getpid(), "cwd": os.getcwd(), "uid": os.getuid()}}), flush=True)
"""

LOOK_AROUND = f"""
    import json, os
    seen = {{"files": [], "processes": [], "uid": os.getuid()}}
    for path in @PATHS@:
        for name in (path, os.path.join(path, "secret-of-a.txt"), os.path.join(path, "work", "secret-of-a.txt")):
            try:
                seen["files"].append([name, os.listdir(name) if os.path.isdir(name) else open(name).read()])
            except OSError:
                pass
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                seen["processes"].append(open(f"/proc/{{entry}}/cmdline").read().replace("\\0", " ").strip())
            except OSError:
                pass
    print("{REPORT}" + json.dumps(seen), flush=True)
"""


def test_the_next_child_sees_nothing_of_the_previous_one(tmp_path, probe):
    """Its files (scratch folder, home, temporary files) and its processes (a daemon that
    left the session) are gone before the next child runs, and a child runs as a uid of its own."""
    scratches: list[Path] = []
    first, a = graded(student(tmp_path, "a", LEAVE_TRACES), probe, scratches)
    assert first.status == "ok" and a is not None
    a_uid = a["uid"]
    assert not [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == a_uid]  # its daemon too
    paths = [str(scratches[0]), a["cwd"], str(scratches[0].parent)]
    second, b = graded(student(tmp_path, "b", LOOK_AROUND.replace("@PATHS@", json.dumps(paths))), probe)
    assert second.status == "ok" and b is not None, second
    assert b["uid"] != a_uid and b["uid"] != 0
    assert not [seen for seen in b["files"] if "a's answers" in str(seen) or "secret-of-a" in str(seen)]
    assert not [seen for seen in b["files"] if seen[0] in (str(scratches[0]), str(scratches[0].parent))]  # not even listed
    others = [cmd for cmd in b["processes"] if "grader.sandbox.zygote" not in cmd and "confine.py" not in cmd]
    assert not others  # only the zygote and the namespace's init: nothing of a's


ATTACK_ZYGOTE = f"""
    import ctypes, json, os, signal
    libc = ctypes.CDLL(None, use_errno=True)
    tried = {{}}
    for entry in os.listdir("/proc"):
        try:
            command = open(f"/proc/{{entry}}/cmdline").read() if entry.isdigit() else ""
        except OSError:
            continue
        if "grader.sandbox.zygote" in command and int(entry) != os.getpid():  # the zygote, and init; this fork too
            pid = int(entry)
            for name, attempt in (  # each tried on the zygote, then on the namespace's init
                ("signal", lambda: os.kill(pid, signal.SIGKILL)),
                ("stop", lambda: os.kill(pid, signal.SIGSTOP)),
                ("memory", lambda: open(f"/proc/{{pid}}/mem", "rb").read(1)),
                ("environ", lambda: open(f"/proc/{{pid}}/environ", "rb").read()),
            ):
                try:
                    attempt()
                    tried.setdefault(name, []).append("done")
                except OSError as error:
                    tried.setdefault(name, []).append(type(error).__name__)
            tried.setdefault("ptrace", []).append(libc.ptrace(16, pid, None, None))  # PTRACE_ATTACH: -1 when refused
    print("{REPORT}" + json.dumps(tried), flush=True)
"""


def test_a_child_cannot_signal_trace_or_read_the_zygote(tmp_path, probe):
    outcome, tried = graded(student(tmp_path, "attacker", ATTACK_ZYGOTE), probe)
    assert outcome.status == "ok" and tried, outcome
    assert tried.pop("ptrace") == [-1, -1]
    assert all(results == ["PermissionError"] * 2 for results in tried.values()) and len(tried) == 4, tried
    before = {z.pid for z in zygotes()}
    after, _ = graded(student(tmp_path, "next", ""), probe)
    assert after.status == "ok" and {z.pid for z in zygotes()} == before  # the same zygote serves on


def test_a_dead_zygote_costs_only_that_probe_and_the_next_submission_is_graded(tmp_path, probe):
    """However a zygote dies while it serves a child, that child's probe crashed (never
    'ungraded', never retried in a loop); the next submission gets a fresh zygote."""
    child = Child(AUTODIFF)
    submission = load(AUTODIFF, student(tmp_path, "a", "import time; time.sleep(300)"), child.scratch)
    child.attach(submission)
    for zygote in zygotes():
        zygote.kill()
    outcome = run_probes(AUTODIFF, submission, [probe], child)[0][probe.key]
    # Charged to the module it was importing when its zygote died (load_error), or to the probe
    assert outcome.status in ("crashed", "load_error"), outcome
    after, _ = graded(student(tmp_path, "b", ""), probe)
    assert after.status == "ok"


MARK = "zygote-must-never-see-7f3c1a"


def test_the_zygote_never_holds_student_code(tmp_path, probe):
    """Student code runs only in the fork: the zygote's memory, read from outside after a
    student's module ran, holds no trace of its source or of what it set."""
    code = f"""
        import sys
        sys.modules["{MARK}-module"] = sys
        MARKER = "{MARK}" * 3
    """
    outcome, _ = graded(student(tmp_path, "a", code), probe)
    assert outcome.status == "ok"
    [zygote] = zygotes()
    held = MARK.encode() in _memory(zygote.pid)
    assert not held
    child_sees, seen = graded(student(tmp_path, "b", f"import json, sys; print('{REPORT}' + json.dumps(sorted(m for m in sys.modules if 'zygote-must' in m)))"), probe)
    assert child_sees.status == "ok" and seen == []  # the next fork does not inherit it either


def _memory(pid: int) -> bytes:
    """The writable memory of ``pid`` (its heap, where imported source and objects live)."""
    chunks = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as memory:
        for line in maps:
            fields = line.split()
            if "rw" not in fields[1]:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                memory.seek(start)
                chunks.append(memory.read(end - start))
            except OSError:
                continue
    return b"".join(chunks)


def test_forks_run_under_the_sandboxs_limits(tmp_path, probe):
    """A fork bomb stops at the process limit, in the fork's own uid."""
    bomb = f"""
        import json, os
        made = 0
        try:
            for _ in range(200):
                if os.fork() == 0:
                    import time; time.sleep(30); os._exit(0)
                made += 1
        except OSError:
            pass
        print("{REPORT}" + json.dumps(made), flush=True)
    """
    outcome, made = graded(student(tmp_path, "bomb", bomb), probe)
    assert outcome.status == "ok" and made is not None and made < Limits().processes, (outcome, made)


def test_a_child_cannot_read_a_sibling_scratch_folder_even_knowing_its_path(tmp_path, probe):
    """Another child's scratch folder (made ahead of need, its submission copied in) sits
    beside this one's; its own Landlock domain keeps it out even of a path it guesses."""
    sibling = Child(AUTODIFF)
    try:
        load(AUTODIFF, student(tmp_path, "sibling", "SIBLING = 'its answers'"), sibling.scratch)
        copied = next(sibling.scratch.rglob("list2d.py"))
        assert "its answers" in copied.read_text()
        code = f"""
            import json
            try:
                seen = open({str(copied)!r}).read()[-40:]
            except OSError as error:
                seen = type(error).__name__
            print("{REPORT}" + json.dumps(seen), flush=True)
        """
        outcome, seen = graded(student(tmp_path, "reader", code), probe)
        assert outcome.status == "ok" and seen == "PermissionError", (outcome, seen)
    finally:
        sibling.close()
