"""The sandbox's isolation, tested by running hostile code inside it the way the runner
does (isolation.wrap, environment, apply_limits, a new session) and looking at what
happened outside.

Each test runs in a fresh grading process, so a forced weaker mechanism
(GRADER_ISOLATION, GRADER_SANDBOX_WITHOUT) is probed from scratch like it would be in
production. The whole file runs under the configuration the environment selects
(``GRADER_ISOLATION=bwrap|unshare|none``); the layer tests below also turn the other
layers off, so no layer hides another's bug. The driver grades as a self-check
(advisory), so configurations official grading refuses can still be examined.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference" / "autodiff" / "nn.py"

# Runs in a grading process of its own: confine the code read from stdin exactly as
# Child does, run it, and print what came back as one JSON line.
DRIVER = textwrap.dedent(
    """
    import json, os, shutil, subprocess, sys, tempfile, time
    from pathlib import Path
    from grader.sandbox import isolation
    from grader.sandbox.runner import Limits

    scratch = Path(tempfile.mkdtemp(prefix="grader-"))
    work = scratch / "work"
    work.mkdir()
    (scratch / "src").mkdir()
    (scratch / "src" / "nn.py").write_text("# the submission's copy")
    code = sys.stdin.read().replace("@GRADER_PID@", str(os.getpid()))
    if "official" not in sys.argv[2:]:
        isolation.advisory()
    if "keyring" in sys.argv[2:]:  # a secret in the grader's session keyring
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall(250, 1, None)  # KEYCTL_JOIN_SESSION_KEYRING: a fresh one, only this process's
        libc.syscall(248, b"user", b"grader-secret", b"grader-secret-7c1e", 18, -3)  # add_key to @s
    try:
        command, notes = isolation.wrap([sys.executable, "-I", "-c", code], scratch=scratch)
    except isolation.IsolationRefused as error:
        print(json.dumps({"refused": str(error)}))
        sys.exit(0)
    limits = Limits(**json.loads(sys.argv[1]))
    if sys.argv[2:] == ["abandon"]:  # the grading process dies while the child runs
        subprocess.Popen(command, cwd=work, env=isolation.environment(work), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, preexec_fn=lambda: isolation.apply_limits(limits), start_new_session=True)
        time.sleep(2)
        os._exit(0)
    try:
        done = subprocess.run(command, cwd=work, env=isolation.environment(work), capture_output=True, text=True,
                              preexec_fn=lambda: isolation.apply_limits(limits), start_new_session=True, timeout=60)
        print(json.dumps({"status": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "notes": notes,
                          "layers": vars(isolation.probe().layers)}))
    finally:
        shutil.rmtree(scratch)
    """
)

# Prepended to every snippet: try(name, fn) records fn's value, or the exception that stopped it.
PRELUDE = textwrap.dedent(
    """
    import json, os, sys
    results = {}
    def attempt(name, fn):
        try:
            results[name] = ["ok", repr(fn())[:300]]
        except BaseException as error:
            results[name] = ["blocked", type(error).__name__ + ": " + str(error)[:200]]
    """
)


def confined(code: str, isolation: str | None = None, env: dict | None = None, without: str = "", options=(), **limits) -> dict:
    """Run ``code`` in the sandbox; its ``results`` dict (see PRELUDE) comes back under "results".
    ``isolation`` and ``without`` force a configuration (and drop any required one)."""
    environment = {**os.environ, **(env or {})}
    if isolation or without:
        environment.pop("GRADER_REQUIRE_ISOLATION", None)
        environment["GRADER_ISOLATION"] = isolation or environment.get("GRADER_ISOLATION", "bwrap")
        environment["GRADER_SANDBOX_WITHOUT"] = without
    source = PRELUDE + textwrap.dedent(code) + "\nprint('RESULTS=' + json.dumps(results))\n"
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(limits), *options], input=source, capture_output=True, text=True, cwd=ROOT,
        env=environment, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    if "refused" in outcome:
        return outcome
    lines = [line for line in outcome["stdout"].splitlines() if line.startswith("RESULTS=")]
    outcome["results"] = json.loads(lines[-1][len("RESULTS="):]) if lines else {}
    return outcome


def blocked(outcome: dict, *names: str) -> None:
    for name in names:
        assert outcome["results"][name][0] == "blocked", f"{name} was not blocked: {outcome['results'][name]}"


@pytest.fixture(scope="module")
def layers():
    """The mechanisms in force on this machine."""
    return confined("")["layers"]


def test_notes_name_the_mechanisms_in_force(layers):
    notes = confined("")["notes"]
    assert notes[0].startswith("sandbox: ")
    if layers["namespaces"] == "bwrap":
        assert "bubblewrap" in notes[0] and "no network" in notes[0]
    if layers["landlock"]:
        assert f"Landlock ABI {layers['landlock']}" in notes[0]
    complete = layers["namespaces"] == "bwrap" and layers["landlock"] and (layers["drop"] or os.getuid() != 0)
    assert complete == (len(notes) == 1), notes  # anything less than complete is said, never silent


@pytest.mark.parametrize("forced", ["unshare", "none"])
def test_forced_fallback_is_reported_and_still_guards_the_reference(forced, layers):
    outcome = confined(
        f"""
        attempt("read", lambda: open({str(REFERENCE)!r}).read())
        attempt("import", lambda: __import__("reference.autodiff.nn"))
        """,
        isolation=forced,
    )
    weaker = [note for note in outcome["notes"] if note.startswith("sandbox WEAKER")]
    assert weaker and f"GRADER_ISOLATION={forced}" in weaker[0]
    if outcome["layers"]["landlock"]:
        blocked(outcome, "read", "import")
    else:
        assert "can read the reference solutions" in weaker[0]  # the gap is named


def test_reference_solutions_are_unreadable():
    outcome = confined(
        f"""
        reference = {str(REFERENCE)!r}
        attempt("absolute", lambda: open(reference).read())
        attempt("relative", lambda: open(os.path.relpath(reference)).read())
        attempt("import", lambda: __import__("reference.autodiff.nn"))
        attempt("listing", lambda: os.listdir(os.path.dirname(reference)))
        attempt("checks", lambda: open({str(ROOT / "grader/assignments/autodiff/checks.py")!r}).read() or 1 / 0)
        for pid in [p for p in os.listdir("/proc") if p.isdigit()] + [str(os.getppid())]:
            attempt("proc cwd " + pid, lambda: open(f"/proc/{{pid}}/cwd/reference/autodiff/nn.py").read())
            attempt("proc root " + pid, lambda: open(f"/proc/{{pid}}/root" + reference).read())
        attempt("child module", lambda: __import__("grader.sandbox.child"))  # what the child needs is there
        """
    )
    results = outcome["results"]
    blocked(outcome, "absolute", "relative", "import", "listing", "checks")
    blocked(outcome, *[name for name in results if name.startswith("proc ")])
    assert results["child module"][0] == "ok"


def test_grader_secrets_do_not_reach_the_child():
    secret = "grader-secret-7c1e"
    outcome = confined(
        """
        results["environ"] = dict(os.environ)
        for pid in [p for p in os.listdir("/proc") if p.isdigit()] + [str(os.getppid())]:
            attempt("environ " + pid, lambda: open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace"))
        """,
        env={"GRADER_TEST_SECRET": secret},
    )
    assert secret not in json.dumps(outcome["results"])
    assert outcome["results"]["environ"]["GRADER_SANDBOX"] == "1"


def test_no_network():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        outcome = confined(
            f"""
            import socket
            attempt("localhost", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2))
            attempt("outside", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
            attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
            """
        )
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked
    blocked(outcome, "localhost", "outside", "dns")


def test_writes_stay_in_the_scratch_folder(tmp_path):
    """Writes aim at real places; the one deletion aims at a decoy, so a broken sandbox
    costs nothing but this test."""
    targets = {"repo": ROOT / "pwned-sandbox", "tmp": tmp_path / "pwned", "home": Path.home() / "pwned-sandbox",
               "pycache": ROOT / "grader" / "__pycache__" / "pwned.pyc"}
    decoy = ROOT / f".sandbox-decoy-{os.getpid()}"
    decoy.write_text("keep me")
    try:
        outcome = confined(
            f"""
            for name, path in {json.dumps({k: str(v) for k, v in targets.items()})}.items():
                attempt(name, lambda: open(path, "w").write("pwned"))
            attempt("delete", lambda: os.remove({str(decoy)!r}))
            attempt("scratch", lambda: open("mine.txt", "w").write("fine"))
            attempt("own home", lambda: open(os.path.expanduser("~/mine.txt"), "w").write("fine"))
            """
        )
        assert decoy.read_text() == "keep me"
    finally:
        decoy.unlink(missing_ok=True)
        for path in targets.values():
            leaked = path.exists()
            path.unlink(missing_ok=True)
            assert not leaked, f"the sandbox wrote {path}"
    blocked(outcome, "repo", "tmp", "home", "pycache", "delete")
    assert outcome["results"]["scratch"] == ["ok", "4"] and outcome["results"]["own home"] == ["ok", "4"]


def test_scratch_folder_may_be_anywhere(tmp_path):
    """A batch run puts scratch folders where it likes, /tmp/a/b/c included (where the
    sandbox's own /tmp would otherwise hide their parents)."""
    outcome = confined(
        """
        attempt("write", lambda: open("mine.txt", "w").write("fine"))
        attempt("read source", lambda: open("../src/nn.py").read())
        """,
        env={"TMPDIR": str(tmp_path)},
    )
    assert outcome["status"] == 0, outcome["stderr"]
    assert outcome["results"]["write"] == ["ok", "4"] and "submission's copy" in outcome["results"]["read source"][1]
    assert list(tmp_path.iterdir()) == []  # and it was cleaned up


def test_cannot_signal_or_trace_the_grader():
    """Signal 0 asks "could I?" without harming anyone, should the sandbox be broken;
    only a bystander of the test's own gets real SIGKILL and PTRACE_ATTACH."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        outcome = confined(
            f"""
            import ctypes, signal
            libc = ctypes.CDLL(None, use_errno=True)
            def ptrace(pid):
                if libc.ptrace(16, pid, 0, 0) != 0:  # PTRACE_ATTACH
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            def outside(pid):  # every process of the sandbox has no_new_privs; the grader's have not
                try:
                    return "NoNewPrivs:\t0" in open(f"/proc/{{pid}}/status").read()
                except OSError:
                    return False
            visible = {{int(p) for p in os.listdir("/proc") if p.isdigit() and outside(p)}}
            for pid in {{@GRADER_PID@, {os.getpid()}}} | visible:
                attempt(f"signal {{pid}}", lambda: os.kill(pid, 0))  # one by one: kill(-1) reports success even if it signalled nobody
            attempt("kill bystander", lambda: os.kill({bystander.pid}, signal.SIGKILL))
            attempt("trace bystander", lambda: ptrace({bystander.pid}))
            """
        )
        time.sleep(0.2)
        assert bystander.poll() is None, "the sandbox killed a process outside it"
        assert "T" not in (Path(f"/proc/{bystander.pid}/stat").read_text().rsplit(")", 1)[1].split()[0])  # not stopped
    finally:
        bystander.kill()
        bystander.wait()
    blocked(outcome, *outcome["results"])


@pytest.mark.skipif(os.getuid() != 0, reason="the uid is dropped only when the grader runs as root")
def test_root_grader_runs_the_child_as_another_uid(layers):
    outcome = confined(
        """
        results["ids"] = [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()]
        results["caps"] = [line.split()[1] for line in open("/proc/self/status") if line.startswith("CapEff")]
        attempt("setuid", lambda: os.setuid(0))
        """
    )
    uid, euid, gid, groups = outcome["results"]["ids"]
    assert outcome["results"]["caps"] == ["0000000000000000"]
    if layers["drop"]:
        blocked(outcome, "setuid")  # (a child left at uid 0 may "become" uid 0: it already is)
        assert uid == euid == gid != 0 and groups == []
        assert f"uid {uid} instead of root" in outcome["notes"][0]
    else:
        assert "runs as uid 0" in outcome["notes"][-1]


def test_limits_bound_processes_memory_and_files(layers):
    unbounded = os.getuid() == 0 and not layers["drop"]  # a self-check's last resort; official grading refuses it
    outcome = confined(
        f"""
        import time
        count = 0
        def fork_all():
            global count
            while {not unbounded}:  # no real fork bomb where nothing would stop it
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                count += 1
        attempt("fork", fork_all)
        results["forked"] = count
        attempt("memory", lambda: bytearray(3 << 30))
        attempt("file", lambda: open("big", "wb").write(b"x" * (32 << 20)))
        """,
        processes=20,
    )
    blocked(outcome, "memory", "file")
    if unbounded:
        assert "is not bounded in processes" in outcome["notes"][-1]
        return
    blocked(outcome, "fork")
    assert 0 < outcome["results"]["forked"] < 20


def test_nothing_the_child_started_outlives_it(layers):
    """A process namespace ends with its first process (elsewhere the runner's reaper,
    tested through the hostile catalogue, does this work)."""
    if not layers["namespaces"]:
        pytest.skip("no process namespace here")
    marker = f"pwned-daemon-{os.getpid()}"
    confined(
        f"""
        import time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                null = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.execve("/bin/sh", ["sh", "-c", "sleep 30 # {marker}"], {{}})  # no sandbox marker in its environment
            os._exit(0)
        time.sleep(0.5)
        """
    )
    time.sleep(0.5)
    assert _with(marker) == []


def test_the_sandbox_ends_when_the_grader_dies(layers):
    """The grading process is killed while student code sleeps in a loop and a daemon
    runs: both end, whichever of the grader's threads had started them."""
    if not layers["namespaces"]:
        pytest.skip("without a process namespace, only the child's process group is ended")
    marker = f"pwned-orphan-{os.getpid()}"
    code = f"""
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", "{marker}"])
    os._exit(0)
while True:
    time.sleep(1)  # {marker}
"""
    subprocess.run([sys.executable, "-c", DRIVER, "{}", "abandon"], input=code, text=True, cwd=ROOT, timeout=60)
    deadline = time.monotonic() + 10
    while (left := _with(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        os.kill(pid, 9)
    assert left == []


def _with(marker: str) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and marker.encode() in _read(p / "cmdline")]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


# ---- configurations: what official grading refuses, what it requires ------------------


def _official(env: dict) -> dict:
    return confined("", env=env, options=["official"])


@pytest.mark.skipif(os.getuid() != 0, reason="only a root grader can leave its child at uid 0")
def test_official_grading_refuses_a_child_left_at_uid_0():
    outcome = _official({"GRADER_ISOLATION": "none", "GRADER_SANDBOX_WITHOUT": "uid", "GRADER_REQUIRE_ISOLATION": ""})
    assert "refusing to grade as root" in outcome["refused"] and "apt-get install bubblewrap" in outcome["refused"]


def test_required_isolation_refuses_a_weaker_sandbox(layers):
    weaker = {"GRADER_SANDBOX_WITHOUT": "landlock", "GRADER_REQUIRE_ISOLATION": "landlock"}
    assert "GRADER_REQUIRE_ISOLATION asks for landlock" in _official(weaker)["refused"]
    held = ",".join(name for name, ok in (("bwrap", layers["namespaces"] == "bwrap"), ("unshare", layers["namespaces"]),
                                          ("landlock", layers["landlock"])) if ok)
    if os.getuid() == 0 and not layers["drop"]:  # refused anyway: see the test above
        assert "refusing to grade as root" in _official({"GRADER_REQUIRE_ISOLATION": held})["refused"]
    else:
        assert "refused" not in _official({"GRADER_REQUIRE_ISOLATION": held})
    if layers["namespaces"] != "bwrap":
        assert "asks for bwrap" in _official({"GRADER_REQUIRE_ISOLATION": "bwrap"})["refused"]


def test_refusal_is_a_clear_cli_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "grader", "grade", "autodiff", str(ROOT / "reference" / "autodiff"), "--results", str(tmp_path / "r.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "GRADER_REQUIRE_ISOLATION": "no-such-layer"},
    )
    assert done.returncode == 3 and done.stderr.startswith("error: refusing to grade") and "Traceback" not in done.stderr
    assert not (tmp_path / "r.json").exists()


# ---- each layer alone ----------------------------------------------------------------

OUTSIDE_WRITES = """
import sys
targets = {"grader package": os.path.join(os.path.dirname(os.path.dirname(__import__("grader").__file__)), "grader", "pwned.py"),
           "venv": os.path.join(sys.prefix, "pwned.pth"), "submission copy": "../src/nn.py", "scratch": "../pwned"}
for name, path in targets.items():
    attempt(name, lambda: open(path, "a").write("pwned"))
attempt("work", lambda: open("mine.txt", "w").write("fine"))
"""


def _no_plants(check: bool = True) -> None:
    planted = [ROOT / "grader" / "pwned.py", Path(sys.prefix) / "pwned.pth"]
    for path in planted:
        leaked = path.exists()
        path.unlink(missing_ok=True)
        assert not (leaked and check), f"the sandbox wrote {path}"


def _need(outcome: dict, namespaces, drop=None) -> None:
    """Skip unless the machine gave the configuration asked for (a weaker one may have
    let the attack write: clean up)."""
    if outcome["layers"]["namespaces"] != namespaces or (drop is not None and outcome["layers"]["drop"] != drop):
        _no_plants(check=False)
        pytest.skip(f"this machine cannot give {namespaces} (drop={drop}): {outcome['notes'][-1]}")


def test_bubblewrap_alone_keeps_everything_but_work_read_only():
    """uid 0 without Landlock: only bubblewrap's read-only binds and hiding stand between
    the child and the grader's files (they belong to the child's uid, root)."""
    outcome = confined(OUTSIDE_WRITES + f"\nattempt('reference', lambda: open({str(REFERENCE)!r}).read())", isolation="bwrap",
                       without="landlock,uid")
    _need(outcome, "bwrap")
    _no_plants()
    blocked(outcome, "grader package", "venv", "submission copy", "scratch", "reference")
    assert outcome["results"]["work"] == ["ok", "4"]


def test_unshare_alone_hides_the_reference_and_caps_writes():
    """The mount namespace's hiding, without Landlock or another uid: the reference and
    the checks are readable to uid 0 but for the empty mounts over them."""
    outcome = confined(
        f"""
        attempt("reference", lambda: open({str(REFERENCE)!r}).read())
        attempt("checks", lambda: open({str(ROOT / "grader/assignments/autodiff/checks.py")!r}).read() or 1 / 0)
        attempt("unmount", lambda: __import__("ctypes").CDLL(None, use_errno=True).umount2({str(REFERENCE.parent.parent).encode()!r}, 2) and 1 / 0)
        def fill():
            for n in range(40):
                open(f"fill{{n}}", "wb").write(b"x" * (15 << 20))
        attempt("fill work", fill)
        """,
        isolation="unshare", without="landlock,uid",
    )
    _need(outcome, "unshare")
    blocked(outcome, "reference", "checks", "unmount", "fill work")
    assert "No space left" in outcome["results"]["fill work"][1]


@pytest.mark.skipif(os.getuid() != 0, reason="the uid is dropped only when the grader runs as root")
def test_own_uid_alone_protects_the_grader_files():
    """unshare (for the mounts that show the interpreter) without Landlock: file
    permissions, applied to the child's own uid, keep it from writing the grader's files
    and bound its processes."""
    outcome = confined(
        OUTSIDE_WRITES
        + """
count = 0
def fork_all():
    global count
    while True:
        if os.fork() == 0:
            __import__("time").sleep(30)
            os._exit(0)
        count += 1
attempt("fork", fork_all)
results["forked"] = count
results["uid"] = os.getuid()
""",
        isolation="unshare", without="landlock", processes=20,
    )
    _need(outcome, "unshare", drop=True)
    _no_plants()
    blocked(outcome, "grader package", "venv", "submission copy", "scratch", "fork")
    assert outcome["results"]["uid"] != 0 and 0 < outcome["results"]["forked"] < 20


def test_landlock_alone_guards_files_network_and_signals(layers):
    """No namespaces, the grader's own uid (root: uid 0 without capabilities)."""
    if not layers["landlock"]:
        pytest.skip("no Landlock on this kernel")
    outcome = confined(
        OUTSIDE_WRITES
        + f"""
import socket
attempt("reference", lambda: open({str(REFERENCE)!r}).read())
attempt("tcp", lambda: socket.create_connection(("127.0.0.1", 22), timeout=2))
attempt("signal grader", lambda: os.kill(@GRADER_PID@, 0))
""",
        isolation="none", without="uid",
    )
    _no_plants()
    blocked(outcome, "grader package", "venv", "submission copy", "scratch", "reference", "tcp")
    if layers["landlock"] >= 6:
        blocked(outcome, "signal grader")


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the test plants its key with x86-64 system call numbers")
def test_child_has_its_own_session_keyring():
    outcome = confined(
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        def read_secret():
            key = libc.syscall(250, 10, ctypes.c_long(-3), b"user", b"grader-secret", 0)  # KEYCTL_SEARCH in @s
            if key < 0:
                raise OSError(ctypes.get_errno(), "not found")
            buffer = ctypes.create_string_buffer(100)
            size = libc.syscall(250, 11, ctypes.c_long(key), buffer, 100)  # KEYCTL_READ
            return buffer.raw[:size]
        attempt("keyring", read_secret)
        """,
        options=["keyring"],
    )
    assert "grader-secret-7c1e" not in json.dumps(outcome["results"])
    blocked(outcome, "keyring")


# ---- macOS and Windows: nothing Linux-only, the same points ---------------------------

# Runs the grader's CLI with the Linux-only mechanisms unavailable: `resource`, `fcntl`
# and Landlock's and prctl's platform gone, as on Windows and macOS (the stdlib's own
# POSIX process handling stays, as on macOS).
FOREIGN = """
import runpy, sys
if sys.platform.startswith("linux"):  # on macOS and Windows, the real thing
    # These pick their platform's code at import: the real one (they are not the grader's)
    import psutil, torch, numpy, urllib.request, matplotlib.pyplot, rich.console
    for name in ("resource", "fcntl"):
        sys.modules[name] = None
    sys.platform = "darwin"
module = sys.argv[1]  # the grader's CLI, or pytest with the template's plug-in
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def _graded(command: list[str], results: Path, foreign: bool) -> dict:
    prefix = [sys.executable, "-c", FOREIGN, "grader"] if foreign else [sys.executable, "-m", "grader"]
    # The official grade with the strongest sandbox here (a forced weaker one may be refused)
    dropped = ("GRADER_REQUIRE_ISOLATION",) if foreign else ("GRADER_ISOLATION", "GRADER_SANDBOX_WITHOUT")
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    done = subprocess.run([*prefix, *command], cwd=ROOT, capture_output=True, text=True, timeout=600, env=environment)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(results.read_text())
    return {"score": report["score"], "tests": {t["name"]: t["score"] for t in report["tests"]}, "output": done.stdout}


@pytest.mark.parametrize("submission", ["reference/autodiff", "assignments/autodiff", "mistake"])
def test_without_linux_mechanisms_check_gives_the_official_points(submission, tmp_path):
    """`check` (the students' self-check) where nothing Linux-only exists, against the
    official grade on Linux: the same points, check by check."""
    if submission == "mistake":
        sys.path.insert(0, str(ROOT / "examples"))
        from materialize import materialize

        example = next(e for e in materialize("autodiff", tmp_path / "examples") if e.name == "mean_grad_not_divided")
        folder = example.path
    else:
        folder = ROOT / submission
    official = _graded(["grade", "autodiff", str(folder), "--results", str(tmp_path / "official.json")], tmp_path / "official.json", False)
    check = _graded(["check", str(folder), "--assignment", "autodiff", "--out", str(tmp_path / "check")], tmp_path / "check" / "results.json",
                    True)
    assert check["tests"] == official["tests"] and check["score"] == official["score"]
    assert 0 < official["score"] < 100 if submission == "mistake" else official["score"] in (0, 100)


def test_without_linux_mechanisms_the_pytest_plugin_gives_the_official_points(tmp_path):
    """The template's pytest plug-in where nothing Linux-only exists: each check's points,
    as pytest reports them, are the official grade's on Linux."""
    import xml.etree.ElementTree as ET

    from grader.outputs.gradescope import INSTRUCTOR_TEST
    from grader.platforms import classroom, local

    sys.path.insert(0, str(ROOT / "examples"))
    from materialize import materialize

    example = next(e for e in materialize("descent", tmp_path / "examples") if e.name == "no_zero_grad")
    repo = tmp_path / "repo"
    repo.mkdir()
    for source in example.path.iterdir():
        (repo / source.name).write_bytes(source.read_bytes())
    (repo / "conftest.py").write_text(classroom.CONFTEST)
    (repo / local.CONFIG_NAME).write_text(local.render_config("descent", "nn-grader"))
    official = _graded(["grade", "descent", str(example.path), "--results", str(tmp_path / "official.json")], tmp_path / "official.json", False)
    environment = {k: v for k, v in os.environ.items() if k not in ("GRADER_REQUIRE_ISOLATION", "PYTHONPATH")}
    done = subprocess.run([sys.executable, "-c", FOREIGN, "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={tmp_path / 'junit.xml'}"],
                          cwd=repo, capture_output=True, text=True, timeout=600, env=environment)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # the mistake fails some checks
    points = {case.get("name"): float(next(p.get("value") for p in case.iter("property") if p.get("name") == "points"))
              for case in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")}
    graded = {name: score for name, score in official["tests"].items() if name != INSTRUCTOR_TEST}
    assert points == graded and 0 < official["score"] < 100


def test_without_linux_mechanisms_the_sandbox_is_said_to_be_advisory():
    done = subprocess.run(
        [sys.executable, "-c", FOREIGN.replace('runpy.run_module(module, run_name="__main__", alter_sys=True)', """
from grader.sandbox import isolation, reaper
import subprocess
command, notes = isolation.wrap([sys.executable, "-c", "print(1)"], scratch=__import__("tempfile").mkdtemp())
print(command == [sys.executable, "-c", "print(1)"], notes)
child = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"])
time.sleep(1) if False else __import__("time").sleep(1)
tree = reaper.descendants(child.pid)
reaper.kill_tree(child)
print(len(tree), [p for p in tree if __import__("psutil").pid_exists(p) and __import__("psutil").Process(p).status() != "zombie"])
"""), "grader"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("True") and f"on {'darwin' if sys.platform == 'linux' else sys.platform} the sandbox is a separate process" in lines[0]
    assert lines[1] == "1 []"  # psutil found the grandchild and killed it
