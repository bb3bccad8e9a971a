"""The hostile-submission catalogue (tests/hostile/*.toml), graded through the real CLI.

Every attack must end with: the grader finished (exit 0) and wrote a valid results.json
holding exactly the honest score; nothing forged, late or early; no file changed
outside the scratch folder (the repository and reference, the results folder, /tmp,
$HOME, the venv); no secret of the grader's reached the output; nobody connected to the
test's listener; and no process the submission started is left.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import sys
import tempfile
import textwrap
import time
import tomllib
import uuid
import zipfile
from pathlib import Path

import pytest

from conftest import read_results
from grader.cli import EXIT_REFUSED

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference"
HOME = Path.home()
CATALOGUE = sorted((Path(__file__).parent / "hostile").glob("*.toml"))
SOLUTION = "        return (target - prediction).abs().mean()\n"  # MAELoss.forward's body in the reference
SECRET = f"grader-secret-{uuid.uuid4().hex}"
DECOY = f"keep me {SECRET}"  # what the decoys hold: an attack that prints one leaks the secret
MARKER = b"pwned"  # every file and output an attack would plant carries it
REFUSED = "this configuration refuses to grade"


@pytest.fixture(scope="module")
def checks():
    from grader.assignments import get

    return get("autodiff").checks()


@pytest.fixture(scope="module")
def listener():
    """A TCP port on this machine that no submission may reach."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        yield server


@pytest.fixture(scope="module")
def decoys():
    """Files outside the sandbox that attacks try to delete or change."""
    paths = [ROOT / f".hostile-decoy-{os.getpid()}", HOME / f".hostile-decoy-{os.getpid()}"]  # one per run: runs may overlap
    for path in paths:
        path.write_text(DECOY)
    yield paths
    for path in paths:
        path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def keyring():
    """The secret in this process's session keyring, which graders inherit: a child that
    kept it could read it. A fresh keyring, so nothing of the machine's is touched."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if os.uname().machine != "x86_64" or libc.syscall(250, 1, None) < 0:  # KEYCTL_JOIN_SESSION_KEYRING
        return
    libc.syscall(248, b"user", b"grader-hostile-secret", SECRET.encode(), len(SECRET), -3)  # add_key to @s


@pytest.fixture(scope="module")
def adopter():
    """Orphans of anything this test starts become its children, so none goes unseen;
    only while these tests run."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    already = running()
    yield
    prctl(36, 0, 0, 0, 0)
    survivors(spare=already)  # reaps what was adopted


@pytest.fixture(scope="module")
def canary(tmp_path_factory, decoys, adopter):
    """Why the sandbox does not hold here, or "" if it does. A submission that only asks
    "could I?" (signal 0, deleting decoys, counting forks) and refuses to import if it
    could; attacks that would harm the machine run only once it scores full marks."""
    code = f"""
import os, time
escaped = []
def could(name, attempt):
    try:
        attempt()
        escaped.append(name)
    except OSError:
        pass
def outside(pid):  # every process of the sandbox has no_new_privs; the grader's have not
    try:
        return "NoNewPrivs:\t0" in open(f"/proc/{{pid}}/status").read()
    except OSError:
        return False
for pid in [int(p) for p in os.listdir("/proc") if p.isdigit() and outside(p)]:
    could("signal " + str(pid), lambda: os.kill(pid, 0))  # kill(-1) would say "done" even if it signalled nobody
could("signal the test", lambda: os.kill({os.getpid()}, 0))
for decoy in {[str(p) for p in decoys]!r}:
    could("delete " + decoy, lambda: os.remove(decoy))
could("write the repository", lambda: open("{ROOT}/pwned-canary", "w").close())
forks = 0
try:
    for _ in range(300):
        if os.fork() == 0:
            time.sleep(20)
            os._exit(0)
        forks += 1
except OSError:
    pass
if forks >= 300:
    escaped.append("unbounded fork")
if escaped:
    raise RuntimeError("ESCAPED: " + ", ".join(escaped))
"""
    out = tmp_path_factory.mktemp("canary")
    submission = build({"append": {"nn.py": code}}, out, {})
    done = grade(submission, out / "r.json", out / "tmp")
    if done.returncode == EXIT_REFUSED:
        return f"{REFUSED}: {done.stderr.strip()}"
    report = read_results(out / "r.json") if done.returncode == 0 else {"score": None, "tests": []}
    if report["score"] == 100 and all(path.exists() for path in decoys):
        return ""
    reasons = {test["output"].split("\n")[0] for test in report["tests"] if test["score"] < test["max_score"]}
    return "; ".join(sorted(reasons)) or done.stderr[-500:]


def test_the_canary_finds_the_sandbox_holding(canary):
    if canary.startswith(REFUSED):
        assert os.getuid() == 0 or os.environ.get("GRADER_REQUIRE_ISOLATION"), canary  # only root's uid-0 fallback is refused
        pytest.skip(canary)
    assert canary == ""


@pytest.mark.parametrize("path", CATALOGUE, ids=[p.stem for p in CATALOGUE])
def test_hostile_submission(path, tmp_path, checks, listener, canary, decoys, adopter, keyring):
    spec = tomllib.loads(path.read_text())
    if canary.startswith(REFUSED):
        pytest.skip(canary)
    if spec.get("guarded") and canary:
        pytest.fail(f"not run, it would harm this machine: the sandbox does not hold ({canary})")
    results = tmp_path / "results" / "r.json"
    results.parent.mkdir()
    places = {"@REPO@": ROOT, "@REFERENCE@": REFERENCE, "@RESULTS@": results, "@RESULTS_DIR@": results.parent,
              "@HOME@": HOME, "@PORT@": listener.getsockname()[1]}
    submission = build(spec, tmp_path / "built", {key: str(value) for key, value in places.items()})
    before, already = snapshot(), running()

    done = grade(submission, results, tmp_path / "tmp")

    assert done.returncode == 0, done.stderr[-2000:]
    assert list((tmp_path / "tmp").iterdir()) == [], "the scratch folder was not removed"
    written = results.read_bytes()
    time.sleep(spec.get("linger", 0))
    assert results.read_bytes() == written, "results.json changed after the grader finished"
    report = read_results(results)
    if spec.get("needs_namespaces") and "sandbox: no namespaces" in written.decode():
        pytest.skip("a known gap without namespaces (docs/threat-model.md): " + spec["needs_namespaces"])
    honest = honest_score(spec, checks)
    if "at_most" in spec:
        assert report["score"] <= spec["at_most"]
    else:
        assert report["score"] == pytest.approx(honest), [t["output"][:300] for t in report["tests"] if t["score"] < t["max_score"]]
    assert MARKER not in written, "forged or planted text reached results.json"
    if spec.get("no_escapes"):  # the student's text reaches the feedback, but never as terminal control
        shown = "".join(t["output"] + t["name"] for t in report["tests"]) + report.get("output", "") + done.stdout
        assert "\x1b" not in shown and "\x07" not in shown, "a terminal control sequence reached the feedback"
    assert SECRET not in written.decode() + done.stdout + done.stderr, "a secret of the grader's reached the output"
    with pytest.raises(BlockingIOError):
        listener.accept()[0].close()  # nobody connected
    assert sorted(p.name for p in results.parent.iterdir()) in (["r.json"], ["r-plots", "r.json"])
    assert all(decoy.read_text() == DECOY for decoy in decoys)
    assert_unchanged(before, snapshot())
    assert survivors(tmp_path / "tmp", spare=already) == []


def grade(submission: Path, results: Path, tmp: Path):
    """``python -m grader grade autodiff SUBMISSION`` as a user runs it, with a secret in
    its environment that must not reach the submission, and a private TMPDIR (where its
    scratch folders go) to see them removed. With GRADER_TEST_USER=UID (as root), the
    grader itself runs as that unprivileged uid."""
    import subprocess

    tmp.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "grader", "grade", "autodiff", str(submission), "--results", str(results), "--quiet"]
    if AS_USER is not None:
        command = as_user(AS_USER, command, [submission.parent, results.parent, tmp])
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "GRADER_TEST_SECRET": SECRET, "TMPDIR": str(tmp)},
    )


AS_USER = int(os.environ["GRADER_TEST_USER"]) if os.environ.get("GRADER_TEST_USER") else None


def as_user(uid: int, command: list[str], writable: list[Path]) -> list[str]:
    """``command`` run as ``uid`` by root: the folders it writes are handed to it, the
    ones above them made traversable, and, in a mount namespace of its own, a private
    folder hiding the interpreter (/root, mode 700) is emptied but for the interpreter,
    bound back read-only. setpriv, not the sandbox's trampoline: the grader must not
    carry the sandbox's own marks (no_new_privs)."""
    import subprocess

    if os.getuid() != 0:
        pytest.skip("only root can grade as another user")
    for folder in writable:
        subprocess.run(["chown", "-R", f"{uid}:{uid}", str(folder)], check=True)
        for parent in folder.parents:
            if parent.is_relative_to(Path(tempfile.gettempdir())) and parent.stat().st_uid == 0:
                parent.chmod(parent.stat().st_mode | 0o011)
    python = Path(os.path.realpath(sys.base_prefix))
    cover = [str(d) for d in reversed(python.parents) if d != Path("/") and not d.stat().st_mode & 0o001][:1]
    script = "set -e\n"
    if cover:
        script += (
            'stage=$(mktemp -d); mount --bind "$PYTHON" "$stage"; mount -t tmpfs -o mode=0755,size=1m tmpfs "$COVER"\n'
            'mkdir -p "$PYTHON"; mount --move "$stage" "$PYTHON"; rmdir "$stage"; mount -o remount,ro,bind "$PYTHON"\n'
        )
    script += f'exec setpriv --reuid={uid} --regid={uid} --clear-groups -- "$@"\n'
    shell = ["env", f"PYTHON={python}", f"COVER={cover[0] if cover else ''}", "sh", "-c", script, "as-user"]
    return ["unshare", "--mount", "--propagation", "private", "--", *shell, *command]


def honest_score(spec: dict, checks) -> float:
    """What the submission earns on its merits: every check but those it breaks."""
    if "score" in spec:
        return spec["score"]
    failing, modules = set(spec.get("failing", [])), set(spec.get("failing_modules", []))
    return sum(c.points for c in checks if c.name.split(":")[0] not in failing and not modules & set(c.probe.needs))


def build(spec: dict, out: Path, places: dict[str, str]) -> Path:
    """A copy of the reference (or an empty folder) with the attack applied; see tests/hostile/README.md."""

    def render(text: str) -> str:
        for key, value in places.items():
            text = text.replace(key, value)
        return text

    folder = out / "autodiff"
    if spec.get("base", "reference") == "reference":
        shutil.copytree(REFERENCE / "autodiff", folder, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        folder.mkdir(parents=True)
    if "forward" in spec:
        nn = folder / "nn.py"
        source = nn.read_text()
        assert source.count(SOLUTION) == 1
        nn.write_text(source.replace(SOLUTION, textwrap.indent(textwrap.dedent(render(spec["forward"])).strip("\n"), " " * 8) + "\n"))
    for name, code in spec.get("append", {}).items():
        with open(folder / name, "a") as module:
            module.write("\n" + render(code))
    for item in spec.get("write", []):
        (folder / item["file"]).parent.mkdir(parents=True, exist_ok=True)
        (folder / item["file"]).write_bytes(render(item["text"]).encode(item.get("encoding", "utf-8")) * item.get("repeat", 1))
    for item in spec.get("symlink", []):
        (folder / item["file"]).unlink(missing_ok=True)
        (folder / item["file"]).symlink_to(render(item["target"]))
    if spec.get("form") == "notebook":
        return folder / "autodiff.ipynb"
    if spec.get("form") == "zip":
        archive = out / "autodiff.zip"
        with zipfile.ZipFile(archive, "w") as zipped:
            for file in sorted(p for p in folder.rglob("*") if p.is_file()):
                zipped.write(file, f"autodiff/{file.relative_to(folder)}")
            for extra in spec.get("zip_extra", []):
                member = zipfile.ZipInfo(extra["name"])
                if extra.get("symlink"):
                    member.external_attr = 0o120777 << 16
                zipped.writestr(member, render(extra["text"]))
        return archive
    return folder


def snapshot() -> dict:
    """What an attack outside the scratch folder would change: the reference and the
    sandbox code byte for byte, the names at the top of the repository, $HOME and
    site-packages, and any planted file (its name or content carries the marker). Only
    what no concurrent run of the project's other tests would change."""
    state: dict = {}
    for base in (REFERENCE, ROOT / "grader" / "sandbox", ROOT / "pyproject.toml"):
        for file in [base] if base.is_file() else sorted(base.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                state[str(file)] = file.read_bytes()
    site_packages = Path(next(p for p in sys.path if p.endswith("site-packages")))
    for folder in (ROOT, site_packages, HOME):  # other runs' decoys come and go; this run's are checked apart
        state[f"names in {folder}"] = {p.name for p in folder.iterdir() if not p.name.startswith(".hostile-decoy-")}
    state["kernel settings"] = [Path(f"/proc/sys/kernel/{name}").read_text() for name in ("core_pattern", "hostname")]
    state["planted in /tmp"] = sorted(p.name for p in Path("/tmp").iterdir() if MARKER.decode() in p.name)
    planted = [p for p in (ROOT / "grader").rglob("*.pyc") if MARKER in p.read_bytes()]
    planted += [p for p in (HOME / ".bashrc", ROOT / "pwned.py") if p.exists() and MARKER in p.read_bytes()]
    state["planted code"] = sorted(map(str, planted))
    return state


def assert_unchanged(before: dict, after: dict) -> None:
    """Files the same; nothing gone from the folders whose names were listed, nothing new
    there that was planted (other test runs may add their own files meanwhile)."""
    for key, old in before.items():
        new = after[key]
        if key.startswith("names in "):
            assert old <= new, f"deleted from {key[9:]}: {sorted(old - new)}"
            planted = [n for n in new - old if MARKER.decode() in n or n.endswith(".pth") or n.startswith("sitecustomize")]
            assert not planted, f"planted in {key[9:]}: {planted}"
        else:
            assert new == old, f"changed: {key}"


def running() -> set[int]:
    return {int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()}


def survivors(tmp: Path | None = None, spare: set[int] = frozenset()) -> list[str]:
    """Processes left by the submission: orphans adopted by this test, and any process
    whose working directory or environment points into ``tmp``, where this grade's
    scratch folders were (not other graders that may run at the same time). Processes
    in ``spare`` ran before the grade (another test's helpers, such as multiprocessing's
    resource tracker). Reaps zombies; kills and names any survivor."""
    marker = str(tmp).encode() if tmp else None
    left: list[str] = []
    for _ in range(30):  # a killed tree takes a moment to go
        left = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid() or int(entry.name) in spare:
                continue
            try:
                state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
                if int(parent) == os.getpid() and state == "Z":
                    os.waitpid(int(entry.name), os.WNOHANG)
                    continue
                ours = int(parent) == os.getpid()
                if marker and not ours:
                    ours = marker in (entry / "environ").read_bytes() or os.readlink(entry / "cwd").startswith(str(tmp))
            except OSError:
                continue
            if ours:
                left.append(f"{entry.name} ({(entry / 'cmdline').read_bytes()[:80]!r})")
        if not left:
            return []
        time.sleep(0.1)
    for line in left:
        try:
            os.kill(int(line.split()[0]), 9)
        except OSError:
            pass
    return left


@pytest.mark.parametrize("command", [["-I", "-m", "grader", "check"], ["-m", "pytest", "-q", "-p", "no:cacheprovider"]], ids=["check", "pytest"])
def test_a_grader_package_in_the_repository_never_shadows_the_grader(command, tmp_path):
    """A student's repository (an exported template) holding its own `grader/` package:
    the self-check as the README says to run it, and pytest through the template's
    conftest.py, both run the installed grader and give the reference its full marks."""
    import subprocess

    from grader.platforms import classroom, local

    repo = tmp_path / "repo"
    shutil.copytree(REFERENCE / "autodiff", repo, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "grader").mkdir()
    (repo / "grader" / "__init__.py").write_text("raise SystemExit('pwned: the repository shadowed the grader')\n")
    (repo / "conftest.py").write_text(classroom.CONFTEST)
    (repo / local.CONFIG_NAME).write_text(local.render_config("autodiff", "nn-grader"))
    done = subprocess.run([sys.executable, *command], cwd=repo, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert "pwned" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = read_results(repo / local.OUTPUT_DIR / "results.json")
    assert report["score"] == report["max_score"]
