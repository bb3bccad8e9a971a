"""Two sandbox layers checked on their own, where the whole-sandbox tests let another layer
hide a bug: bubblewrap's view (a child running as another uid cannot write root's files
even through a writable bind) and the reaper (a process namespace ends everything anyway).

The rules come from docs/threat-model.md: the child writes only in its ``work/`` tmpfs,
everything else it sees is bound read-only; nothing a submission started outlives grading,
whether it stayed in the child's process tree, left its process group, or was orphaned.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from grader.sandbox import isolation, reaper

WRITABLE_BINDS = {"--bind", "--bind-try", "--dev-bind", "--dev-bind-try"}


# ---- bubblewrap's view ------------------------------------------------------------------


@pytest.mark.parametrize("rootless", [False, True], ids=["root", "rootless"])
def test_bubblewrap_binds_every_path_read_only_and_gives_only_work_writable(tmp_path, rootless):
    scratch = tmp_path / "scratch"
    (scratch / "work").mkdir(parents=True)
    view = isolation.View.for_scratch(scratch)
    args = isolation._bwrap_args(view, scratch / "work", rootless)
    assert not WRITABLE_BINDS & set(args), "a writable bind: the child could change what it sees"
    bound = {args[i + 1] for i, arg in enumerate(args) if arg == "--ro-bind" and args[i + 1] == args[i + 2]}
    linked = {args[i + 2] for i, arg in enumerate(args) if arg == "--symlink"}
    assert {str(p) for p in view.read} <= bound | linked
    assert str(scratch) in bound  # the submission's copy and the answer channel: read-only
    tmpfs = [args[i + 1] for i, arg in enumerate(args) if arg == "--tmpfs"]
    assert tmpfs.count(str(scratch / "work")) == 1
    size = args.index("--size")
    assert args[size + 2 : size + 4] == ["--tmpfs", str(scratch / "work")], "work/ is capped in size"
    assert args.index("--remount-ro") < size and args[args.index("--remount-ro") + 1] == "/tmp"


def test_bubblewrap_hides_the_reference_and_the_checks(tmp_path):
    scratch = tmp_path / "scratch"
    (scratch / "work").mkdir(parents=True)
    view = isolation.View.for_scratch(scratch)
    args = isolation._bwrap_args(view, scratch / "work", False)
    covered = {args[i + 1] for i, arg in enumerate(args) if arg == "--tmpfs"} | {
        args[i + 2] for i, arg in enumerate(args) if arg == "--ro-bind" and args[i + 1] == "/dev/null"
    }
    hidden = [p for p in view.hidden if p.exists() and any(p.is_relative_to(os.path.realpath(r)) for r in view.read)]
    assert hidden, "the reference and the checks lie under what the child reads"
    assert {str(p) for p in hidden} <= covered
    checks = os.path.realpath(isolation.__file__).replace("sandbox/isolation.py", "assignments/autodiff/checks.py")
    assert checks in covered  # the autodiff judges and their expected values


@pytest.mark.skipif(not isolation.LINUX or isolation._which("bwrap") is None, reason="needs bubblewrap")
def test_bubblewrap_alone_stops_uid_0_writing_what_it_sees(tmp_path):
    """With the uid left at 0 and no Landlock, the read-only binds alone keep the child from
    the grader's files and its scratch folder (it writes only in work/)."""
    target = tmp_path / "grader-file"
    target.write_text("original")
    scratch = tmp_path / "scratch"
    (scratch / "work").mkdir(parents=True)
    (scratch / "src").mkdir()
    (scratch / "src" / "nn.py").write_text("# the submission's copy")
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from grader.sandbox import isolation
        isolation.advisory()
        isolation.View.for_scratch = classmethod(lambda cls, s, real=isolation.View.for_scratch: (
            lambda v: (v.read.append(Path({str(tmp_path)!r})) or v))(real.__func__(cls, s)))
        command, notes = isolation.wrap([sys.executable, "-I", "-S", "-c", sys.argv[1]], scratch=Path({str(scratch)!r}))
        layers = isolation.probe().layers
        if (layers.namespaces, layers.drop, layers.landlock) != ("bwrap", False, 0):
            print("UNAVAILABLE", vars(layers), notes)
            sys.exit(0)
        import subprocess
        done = subprocess.run(command, cwd={str(scratch / "work")!r}, env=isolation.environment(Path({str(scratch / "work")!r})),
                              capture_output=True, text=True, timeout=120)
        print(done.stdout, done.stderr)
        """
    )
    attack = textwrap.dedent(
        f"""
        import os
        for path in ({str(target)!r}, {str(scratch / "src" / "nn.py")!r}, {str(scratch / "planted")!r}, "ok-in-work"):
            try:
                with open(path, "w") as f:
                    f.write("pwned")
                print("WROTE", path)
            except OSError as error:
                print("BLOCKED", path, type(error).__name__)
        """
    )
    env = {**os.environ, "GRADER_ISOLATION": "bwrap", "GRADER_SANDBOX_WITHOUT": "landlock,uid"}
    env.pop("GRADER_REQUIRE_ISOLATION", None)
    done = subprocess.run([sys.executable, "-c", code, attack], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    if done.stdout.startswith("UNAVAILABLE"):
        pytest.skip(f"this machine cannot give bubblewrap alone: {done.stdout}")
    assert "WROTE ok-in-work" in done.stdout, done.stdout
    assert done.stdout.count("BLOCKED") == 3, done.stdout
    assert target.read_text() == "original" and (scratch / "src" / "nn.py").read_text() == "# the submission's copy"
    assert not (scratch / "planted").exists()


def _bwrap(tmp_path, rootless: bool = False, **options) -> tuple[list[str], Path]:
    work = tmp_path / "scratch" / "work"
    work.mkdir(parents=True)
    return isolation._bwrap_args(isolation.View.for_scratch(work.parent), work, rootless, **options), work


def _has(args: list[str], *run: str) -> bool:
    """Whether ``run`` occurs in ``args``, in order and together (an option with its values)."""
    return any(args[i : i + len(run)] == list(run) for i in range(len(args)))


@pytest.mark.parametrize("rootless", [False, True], ids=["root", "rootless"])
def test_bubblewrap_gives_the_child_namespaces_a_session_proc_and_dev_of_its_own(tmp_path, rootless):
    args, work = _bwrap(tmp_path, rootless)
    assert {"--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"} <= set(args)
    assert _has(args, "--as-pid-1") and _has(args, "--new-session") and _has(args, "--hostname", "sandbox")
    assert _has(args, "--proc", "/proc") and _has(args, "--dev", "/dev")
    assert ("--unshare-user" in args, "--disable-userns" in args) == (rootless, rootless)  # and no user namespace of its own
    first = args.index("--tmpfs")
    assert args[first + 1] == "/tmp" and first < args.index("--ro-bind"), "a fresh /tmp before the binds (a checkout may be in /tmp)"
    assert args[-2:] == ["--chdir", str(work)]


def test_work_and_its_home_are_sticky_and_shared_or_closed_for_a_fork_server(tmp_path):
    args, work = _bwrap(tmp_path)
    assert _has(args, "--perms", "01777", "--size", str(256 << 20), "--tmpfs", str(work))  # 256 MiB (docs/threat-model.md)
    assert _has(args, "--perms", "01777", "--dir", str(work / "home"))
    closed, work = _bwrap(tmp_path / "zygote", work_perms="0700")
    assert _has(closed, "--perms", "0700", "--size", str(256 << 20), "--tmpfs", str(work))
    assert _has(closed, "--perms", "0700", "--dir", str(work / "home"))


def test_bubblewrap_hides_a_folder_under_a_tmpfs_a_file_under_dev_null_and_skips_what_is_not_there(tmp_path):
    tree, elsewhere = tmp_path / "tree", tmp_path / "elsewhere"
    (tree / "package").mkdir(parents=True)
    (tree / "package" / "checks.py").write_text("")
    (tree / "reference").mkdir()
    elsewhere.mkdir()
    hidden = [tree / "reference", tree / "package" / "checks.py", tree / "gone.py", elsewhere]
    args = isolation._bwrap_args(isolation.View([tree], tmp_path / "scratch", hidden), tmp_path / "scratch" / "work", False)
    assert _has(args, "--tmpfs", str(tree / "reference")) and _has(args, "--ro-bind", "/dev/null", str(tree / "package" / "checks.py"))
    assert str(tree / "gone.py") not in args, "bubblewrap fails on a path that is not there"
    assert str(elsewhere) not in args, "not under what the child reads: nothing to hide"


def test_a_merged_usr_link_stays_a_link_and_any_other_link_is_bound(tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    args = isolation._bwrap_args(isolation.View([Path("/bin"), link], tmp_path / "scratch", []), tmp_path / "scratch" / "work", False)
    if os.path.islink("/bin"):  # /bin -> usr/bin
        assert _has(args, "--symlink", os.readlink("/bin"), "/bin")
    else:
        assert _has(args, "--ro-bind", "/bin", "/bin")
    assert _has(args, "--ro-bind", str(link), str(link))


def test_missing_parents_are_made_open_to_the_childs_uid_once_each():
    made = isolation._parents([Path("/a/b/c"), Path("/a/d")])
    assert made == ["--perms", "0755", "--dir", "/a", "--perms", "0755", "--dir", "/a/b"]  # bubblewrap would make them 0700


def test_one_bind_covers_the_paths_inside_it():
    assert isolation._outermost({Path("/a"), Path("/a/b"), Path("/c")}) == {Path("/a"), Path("/c")}


def test_the_child_reads_the_system_and_this_interpreter_never_the_whole_filesystem(tmp_path, monkeypatch):
    import site

    read = [Path(os.path.realpath(p)) for p in isolation.View.for_scratch(tmp_path).read]
    needed = [Path("/usr"), Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable), *map(Path, site.getsitepackages())]
    for path in needed:
        real = Path(os.path.realpath(path))
        assert any(real.is_relative_to(r) for r in read), f"{path} is not readable by the child"
    monkeypatch.setattr(sys, "base_prefix", "/")  # an interpreter installed at the root
    assert Path("/") not in isolation.View.for_scratch(tmp_path).read


def test_the_reference_is_hidden_beside_the_grader_and_wherever_it_imports_from(tmp_path, monkeypatch):
    import importlib.machinery
    import types

    grader = Path(isolation.__file__).resolve().parent.parent
    installed = tmp_path / "reference"
    installed.mkdir()
    module = types.ModuleType("reference")
    module.__spec__ = importlib.machinery.ModuleSpec("reference", None, is_package=True)
    module.__spec__.submodule_search_locations = [str(installed)]
    monkeypatch.setitem(sys.modules, "reference", module)
    hidden = isolation._hidden(grader)
    assert grader.parent / "reference" in hidden and installed.resolve() in hidden
    monkeypatch.setitem(sys.modules, "reference", None)  # not importable here
    assert grader.parent / "reference" in isolation._hidden(grader)


def test_system_tools_are_found_on_a_fixed_path_never_the_callers(tmp_path, monkeypatch):
    planted = tmp_path / "sh"
    planted.write_text("#!/bin/sh\n")
    planted.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    found = isolation._which("sh")
    assert found is not None and Path(found).parent in {Path(p) for p in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin")}


# ---- choosing the isolation --------------------------------------------------------------

# The order (docs/threat-model.md, grader/sandbox/isolation.py): namespaces strongest first
# (bubblewrap, unshare, none), each with the child's own uid first when the grader is root,
# with the Landlock ABI the kernel gives; last, none of them, should Landlock itself fail.
# Each combination is tried by starting a trivial child; here a stand-in says which start.


def _choose(monkeypatch, starts=lambda layers: True, root=True, landlock=3, linux=True, **settings):
    """(the Plan made, the combinations tried in order) if a child started under exactly
    the combinations ``starts`` accepts."""
    from grader.sandbox import confine

    _machine(monkeypatch, root, linux)
    monkeypatch.setattr(confine, "landlock_abi", lambda: landlock)
    for name in ("GRADER_ISOLATION", "GRADER_SANDBOX_WITHOUT", "GRADER_REQUIRE_ISOLATION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    tried = []

    def attempt(layers):
        tried.append((layers.namespaces, layers.drop, layers.landlock))
        return None if starts(layers) else "it cannot start here"

    monkeypatch.setattr(isolation, "_try", attempt)
    return isolation.Plan(), tried


def _machine(monkeypatch, root: bool, linux: bool = True) -> None:
    monkeypatch.setattr(isolation, "LINUX", linux)
    monkeypatch.setattr(isolation, "_grader_uid", lambda: 0 if root else 1000)
    monkeypatch.setattr(isolation, "_advisory", False)


def _layers(plan) -> tuple:
    return plan.layers.namespaces, plan.layers.drop, plan.layers.landlock


EVERY = [("bwrap", True, 3), ("bwrap", False, 3), ("unshare", True, 3), ("unshare", False, 3), (None, True, 3), (None, False, 3),
         (None, False, 0)]


@pytest.mark.parametrize("root, starts, tried, chosen", [
    (True, lambda layers: True, EVERY[:1], EVERY[0]),
    (True, lambda layers: layers.namespaces != "bwrap", EVERY[:3], EVERY[2]),
    (True, lambda layers: not layers.drop, EVERY[:2], EVERY[1]),
    (False, lambda layers: layers.namespaces is None, [("bwrap", False, 3), ("unshare", False, 3), (None, False, 3)], (None, False, 3)),
    (True, lambda layers: not layers.landlock, EVERY, (None, False, 0)),
    (True, lambda layers: False, EVERY, (None, False, 0)),
], ids=["all", "no-bwrap", "no-uid", "not-root-no-namespaces", "landlock-fails", "nothing"])  # fmt: skip
def test_the_strongest_combination_that_starts_is_chosen(monkeypatch, root, starts, tried, chosen):
    plan, attempts = _choose(monkeypatch, starts, root=root)
    assert attempts == tried and _layers(plan) == chosen
    assert len(plan.missing) == sum(not starts(isolation.Layers(*t)) for t in tried)  # each failure is said


def test_each_combination_that_failed_is_named_with_why(monkeypatch):
    plan, _ = _choose(monkeypatch, lambda layers: False)
    assert plan.missing == [
        "bwrap + own uid + Landlock 3 failed (it cannot start here)", "bwrap + Landlock 3 failed (it cannot start here)",
        "unshare + own uid + Landlock 3 failed (it cannot start here)", "unshare + Landlock 3 failed (it cannot start here)",
        "no namespaces + own uid + Landlock 3 failed (it cannot start here)", "no namespaces + Landlock 3 failed (it cannot start here)",
        "no namespaces failed (it cannot start here)",
    ]


@pytest.mark.parametrize("setting, tried, missing", [
    ("unshare", EVERY[2:3], ["stronger isolation turned off by GRADER_ISOLATION=unshare"]),
    ("none", EVERY[4:5], ["stronger isolation turned off by GRADER_ISOLATION=none"]),
    ("fast", EVERY[4:5], ["GRADER_ISOLATION='fast' is not bwrap, unshare or none", "stronger isolation turned off by GRADER_ISOLATION=none"]),
])  # fmt: skip
def test_grader_isolation_caps_the_namespaces_and_says_so(monkeypatch, setting, tried, missing):
    plan, attempts = _choose(monkeypatch, GRADER_ISOLATION=setting)
    assert attempts == tried and _layers(plan) == tried[0] and plan.missing == missing


def test_layers_turned_off_are_not_tried_and_are_named(monkeypatch):
    plan, attempts = _choose(monkeypatch, GRADER_SANDBOX_WITHOUT=" UID, Landlock ")
    assert attempts == [("bwrap", False, 0)]
    assert plan.missing == ["landlock turned off by GRADER_SANDBOX_WITHOUT", "uid turned off by GRADER_SANDBOX_WITHOUT"]


def test_without_linux_nothing_is_tried(monkeypatch):
    plan, attempts = _choose(monkeypatch, linux=False)
    assert attempts == [] and _layers(plan) == (None, False, 0)
    assert plan.missing == [f"on {sys.platform} the sandbox is a separate process with limits (namespaces, uids and Landlock are Linux's)"]


def _plan(monkeypatch, layers: tuple, root: bool = True, missing=(), linux: bool = True):
    _machine(monkeypatch, root, linux)
    plan = isolation.Plan.__new__(isolation.Plan)
    plan.layers, plan.missing = isolation.Layers(*layers), list(missing)
    return plan


@pytest.mark.parametrize("required, layers, root, unmet", [
    ("bwrap, LANDLOCK", ("unshare", True, 3), True, "bwrap"),
    ("bwrap,landlock,uid,unshare", ("bwrap", True, 3), True, None),
    ("unshare", ("bwrap", False, 0), False, None),  # bubblewrap is stronger
    ("unshare", ("unshare", True, 0), True, None),
    ("unshare,landlock", (None, True, 0), True, "landlock, unshare"),
    ("uid", ("bwrap", False, 3), False, None),  # not root: the child runs at the grader's own uid, never 0
    ("uid", ("bwrap", False, 3), True, "uid"),  # root, and the child stays at uid 0
    ("no-such-layer", ("bwrap", True, 3), True, "no-such-layer"),
])  # fmt: skip
def test_grader_require_isolation_refuses_what_is_not_held(monkeypatch, required, layers, root, unmet):
    plan = _plan(monkeypatch, layers, root, missing=["bwrap + own uid + Landlock 3 failed (no bwrap)", "bwrap + own uid failed (no)"])
    monkeypatch.setenv("GRADER_REQUIRE_ISOLATION", required)
    refusal = plan.refusal()
    if unmet is None:
        assert refusal is None
    else:
        assert refusal.startswith(f"refusing to grade: GRADER_REQUIRE_ISOLATION asks for {unmet}, which this machine does not give "
                                  "(known: bwrap, unshare, uid, landlock). ")
        assert refusal.endswith(f"{plan.notes(None)[0]}. Why: bwrap + own uid + Landlock 3 failed (no bwrap); bwrap + own uid failed (no)")


def test_official_grading_as_root_refuses_a_child_at_uid_0_and_a_self_check_does_not(monkeypatch):
    plan = _plan(monkeypatch, (None, False, 3))
    monkeypatch.delenv("GRADER_REQUIRE_ISOLATION", raising=False)
    assert plan.refusal() == (
        "refusing to grade as root: student code would run as uid 0, which no process limit bounds (a fork bomb could take the "
        "machine). Why: nothing stronger was tried. Install bubblewrap (apt-get install bubblewrap), allow namespaces (unshare), "
        "or install Python where other users can read it")
    assert _plan(monkeypatch, (None, True, 3)).refusal() is None  # its own uid
    assert _plan(monkeypatch, (None, False, 3), root=False).refusal() is None  # the grader's uid, bounded
    monkeypatch.setattr(isolation, "_advisory", True)
    assert plan.refusal() is None


# What each configuration leaves open, as docs/threat-model.md's table has it.
@pytest.mark.parametrize("layers, root, uid, exposed", [
    (("bwrap", True, 3), True, 1234, ""),
    (("unshare", True, 0), True, 1234, "can read files outside its folder"),
    (("unshare", False, 0), False, None, "can read files outside its folder and write the grader's"),
    ((None, True, 4), True, 1234, "can use UDP and local Unix sockets (Landlock blocks TCP only), can fill the disk through its folder "
                                  "(bounded per file only)"),
    ((None, False, 6), False, None, "can use UDP and local Unix sockets (Landlock blocks TCP only), can fill the disk through its folder "
                                    "(bounded per file only)"),
    ((None, False, 5), False, None, "can use UDP and local Unix sockets (Landlock blocks TCP only), can signal the grader, can fill the "
                                    "disk through its folder (bounded per file only)"),
    ((None, False, 0), False, None, "can read the reference solutions and write outside its folder, has network access, can signal the "
                                    "grader, can fill the disk through its folder (bounded per file only)"),
    ((None, False, 3), True, None, "has network access, can signal the grader, can fill the disk through its folder (bounded per file only), "
                                   "is not bounded in processes (uid 0 is exempt from RLIMIT_NPROC)"),
])  # fmt: skip
def test_what_a_weaker_sandbox_leaves_open_is_said(monkeypatch, layers, root, uid, exposed):
    assert _plan(monkeypatch, layers, root).exposed(uid) == exposed


def test_without_linux_everything_is_open_and_advisory(monkeypatch):
    exposed = _plan(monkeypatch, (None, False, 0), root=False, linux=False).exposed(None)
    assert exposed == "can do whatever the user running the check can (this grade is advisory; the official one runs on Linux)"


def test_the_notes_name_the_mechanisms_and_every_gap(monkeypatch):
    full = _plan(monkeypatch, ("bwrap", True, 3))
    assert full.notes(1234) == ["sandbox: bubblewrap namespaces (own filesystem view without the reference solutions, no network, own "
                                "process tree); uid 1234 instead of root; Landlock ABI 3; resource limits"]
    assert _plan(monkeypatch, ("bwrap", False, 3), root=False).notes(None) == [
        "sandbox: bubblewrap namespaces (own filesystem view without the reference solutions, no network, own process tree); uid 1000, "
        "the grader's own; Landlock ABI 3; resource limits"]
    weak = _plan(monkeypatch, (None, False, 0), missing=["bwrap failed (x)"])
    assert weak.notes(None) == [
        "sandbox: no namespaces; uid 0, the grader's own; no Landlock; resource limits",
        "sandbox WEAKER than intended: bwrap failed (x); no namespaces (bubblewrap or unshare); the child runs as uid 0 (without "
        f"capabilities); no Landlock; so student code {weak.exposed(None)}"]
    nothing_tried = _plan(monkeypatch, (None, False, 0), root=False)  # a gap is said even when no failure explains it
    assert nothing_tried.notes(None)[1] == ("sandbox WEAKER than intended: no namespaces (bubblewrap or unshare); no Landlock; so student "
                                            f"code {nothing_tried.exposed(None)}")
    unshared = _plan(monkeypatch, ("unshare", True, 3), missing=["bwrap failed (x)"])
    assert unshared.notes(1234)[1] == "sandbox WEAKER than intended: bwrap failed (x)"  # nothing left open to add
    assert unshared.notes(1234)[0].startswith("sandbox: unshare namespaces (reference solutions hidden, writes capped, no network, own "
                                              "process tree)")


# ---- the reaper ---------------------------------------------------------------------------

# The scenarios run in tests/reaper_scenario.py, in a process of their own (the reaper makes
# its process a child subreaper), in a pid namespace of their own where the machine allows
# (the reaper kills by pid: a broken one must not reach other processes). The mutation
# benchmark sets CONTAINED_ONLY: it runs mutants of the reaper, and so needs the namespace.
SCENARIO = os.path.join(os.path.dirname(__file__), "reaper_scenario.py")
CONTAINED_ONLY = "GRADER_REAPER_TESTS_CONTAINED"


@functools.cache
def _pid_namespace() -> tuple[str, ...] | None:
    """The command prefix that starts a process in a pid namespace with its own /proc, or None."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    user = () if os.geteuid() == 0 else ("--user", "--map-root-user")
    prefix = (unshare, *user, "--pid", "--fork", "--kill-child", "--mount-proc")
    works = subprocess.run([*prefix, "true"], capture_output=True, timeout=60).returncode == 0
    return prefix if works else None


@functools.cache
def _scenario(*args: str) -> dict:
    prefix = _pid_namespace()
    if prefix is None and os.environ.get(CONTAINED_ONLY):
        pytest.fail(f"{CONTAINED_ONLY} is set but this machine gives no pid namespace (unshare)")
    grader_parent = Path(reaper.__file__).resolve().parents[2]  # the scenario imports the reaper this test imported
    done = subprocess.run([*(prefix or ()), sys.executable, SCENARIO, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(grader_parent)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork, setsid, no_new_privs and a child subreaper")
WHERE = {  # where each kind of escaped process is when the child is killed
    "descendant": {"a descendant": True, "found by descendants()": True, "re-parented to us": False, "in the child's group": False},
    "orphan": {"a descendant": False, "found by descendants()": False, "re-parented to us": True, "in the child's group": False},
    "privless-orphan": {"a descendant": False, "found by descendants()": False, "re-parented to us": True, "in the child's group": False},
    "group-orphan": {"a descendant": False, "found by descendants()": False, "re-parented to us": True, "in the child's group": True},
}


@linux_only
@pytest.mark.parametrize("kind", list(WHERE))
def test_reaper_kills_what_left_the_process_group(kind):
    seen = _scenario(kind)
    assert seen["escaped"] == {"running": True, **WHERE[kind]}
    after = seen["after the child"]
    assert after["child reaped"], "the child itself was killed and reaped"
    assert not after["escaped running"], f"the {kind} outlived grading"
    assert not after["its child running"], f"the {kind}'s own child outlived grading"
    if kind != "group-orphan":  # the group's signal reaps nothing: that one stays our zombie (not running)
        assert not after["escaped our zombie"], "what the tree and the strays found is reaped too"


@linux_only
def test_reaper_spares_a_sandbox_child_still_in_use_and_the_graders_own_children():
    """A batch worker starts the next child early: cleaning up after one must not kill it,
    nor a process of the grader's own that is not a sandbox child."""
    seen = _scenario("orphan")  # its orphan is a stray: it must go
    assert not seen["after the child"]["escaped running"]
    assert seen["after the child"]["busy running"] and seen["after the child"]["bystander running"]
    # each ends with its own kill_tree, which forgets the one in use (its pid may come back as a stray's)
    assert seen["after all"] == {"busy reaped": True, "busy forgotten": True, "bystander reaped": True}


@linux_only
def test_reaper_spares_the_graders_own_children_when_the_grader_has_no_new_privs():
    """In a container started with no_new_privs every process has it, the grader's own
    children included: then it cannot tell a sandbox descendant, and the marker alone does."""
    after = _scenario("orphan", "privless")["after the child"]
    assert not after["escaped running"] and after["bystander running"] and after["busy running"]


@linux_only
def test_reaper_reaping_returns_once_nothing_is_left_and_never_kills():
    # given an hour, it returns at once: a stop for a broken reaper is the scenario's own timeout
    assert _scenario("reap") == {"zombie reaped": True, "running child left running": True}


# ---- CPU time, read from outside ------------------------------------------------------------

# Burns ``seconds`` of its own CPU time (measured by itself), then reports it and waits.
BURNER = "import sys, time\nwhile time.process_time() < {seconds}: pass\nprint(time.process_time(), flush=True)\n"
TREE = textwrap.dedent(
    """
    import subprocess, sys, time
    # a grandchild that burns 0.3 s and ends (reaped: its time moves into our children's time)...
    subprocess.run([sys.executable, "-c", sys.argv[1].format(seconds=0.3)], stdout=subprocess.DEVNULL, check=True)
    # ...and one that burns 0.3 s and stays
    live = subprocess.Popen([sys.executable, "-c", sys.argv[1].format(seconds=0.3) + "time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    live.stdout.readline()
    while time.process_time() < 0.2:
        pass
    print("ready", flush=True)
    sys.stdin.readline()
    live.kill()
    live.wait()
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc through psutil like elsewhere, but the test waits on pipes")
def test_cpu_time_counts_the_whole_tree_and_never_goes_down():
    from grader.sandbox.cputime import TreeCPU

    child = subprocess.Popen([sys.executable, "-c", TREE, BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        cpu = TreeCPU(child.pid)
        used = cpu.seconds()
        # 0.2 + 0.3 + 0.3 burnt, read in clock ticks: more than any two of them give
        assert used > 0.65, "the child's own time, its live grandchild's and the reaped one's"
        assert len(cpu.tree) == 2 and not cpu.runnable(), "two processes, both asleep"
        assert cpu.seconds(refresh=False) >= used
        child.stdin.write("\n")
        child.stdin.flush()
        child.wait()
        assert cpu.seconds() == cpu.highest >= used, "once the tree is gone, what it used stays counted"
    finally:
        reaper.kill_tree(child)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process states as Linux reports them")
def test_a_spinning_tree_is_runnable():
    from grader.sandbox.cputime import TreeCPU

    spinner = subprocess.Popen([sys.executable, "-c", "print(flush=True)\nwhile True: pass"], stdout=subprocess.PIPE, text=True)
    try:
        spinner.stdout.readline()
        cpu = TreeCPU(spinner.pid)
        cpu.seconds()
        assert cpu.runnable()
    finally:
        reaper.kill_tree(spinner)


def _cpu_of(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _until(condition) -> None:
    """Polls a condition on the processes' own state. The bound (about ten minutes) only
    stops a broken test; no busy machine comes near it, and no speed is asserted."""
    import time

    for _ in range(60000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("the processes never reached the state the test needs")


def test_a_fresh_meter_reads_nothing_and_no_tree_is_runnable():
    from grader.sandbox.cputime import TreeCPU

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    fresh = TreeCPU(gone.pid)
    assert not fresh.runnable() and fresh.seconds() == 0.0  # nothing seen: nothing counted
    sleeper = subprocess.Popen([sys.executable, "-c", "import sys; print(flush=True); sys.stdin.readline()"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        sleeper.stdout.readline()
        assert TreeCPU(sleeper.pid).seconds() == pytest.approx(_cpu_of(sleeper.pid), abs=0.05)  # Python's start only
    finally:
        reaper.kill_tree(sleeper)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process states as Linux reports them")
def test_a_process_gone_from_the_tree_does_not_hide_the_others():
    from grader.sandbox.cputime import TreeCPU

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = psutil.Process(gone.pid)
    gone.wait()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        _until(lambda: _cpu_of(spinner.pid) > 0.3)
        cpu = TreeCPU(spinner.pid)
        cpu.root = psutil.Process(spinner.pid)
        cpu.tree = [dead, cpu.root]  # found last time; the first has gone since
        assert cpu.runnable()
        assert cpu.seconds(refresh=False) > 0.3
    finally:
        reaper.kill_tree(spinner)


GROWING = textwrap.dedent(
    """
    import subprocess, sys
    print(flush=True)
    sys.stdin.readline()  # the meter has read the tree: start a child whose own child spins
    subprocess.Popen([sys.executable, "-c", "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'while True: pass']).wait()"]).wait()
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc through psutil like elsewhere, but the test waits on pipes")
def test_a_refresh_finds_descendants_started_since_at_any_depth():
    from grader.sandbox.cputime import TreeCPU

    parent = subprocess.Popen([sys.executable, "-c", GROWING], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        parent.stdout.readline()
        cpu = TreeCPU(parent.pid)
        alone = cpu.seconds()
        parent.stdin.write("\n")
        parent.stdin.flush()
        _until(lambda: any(_cpu_of(p.pid) > 0.5 for p in psutil.Process(parent.pid).children(recursive=True)))
        assert cpu.seconds(refresh=False) < alone + 0.5, "the cheap read keeps to the processes found last time"
        assert cpu.seconds() > alone + 0.5, "a refresh finds the grandchild that spins"
    finally:
        reaper.kill_tree(parent)
