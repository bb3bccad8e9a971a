"""How the child is confined, with the strongest mechanisms this machine offers.

Three independent layers, each probed once per process and reported in the notes:

* namespaces: bubblewrap gives the child its own filesystem view (the system, the
  Python installation, the venv and the grader package read-only; the scratch folder
  read-write; never the repository, the reference solutions or the checks), no
  network, and its own process tree (killing it kills everything it started). Without
  bubblewrap, ``unshare`` still gives the network and process namespaces.
* identity: when the grader runs as root the child runs as a uid of its own (no
  account, no groups), so it cannot signal or trace the grader, file permissions apply
  to it, and RLIMIT_NPROC, counted per uid, bounds its processes.
* Landlock: the kernel restricts the child to reading the same paths and writing only
  its scratch folder, and (by ABI) denies TCP, signals and abstract sockets outside
  its domain. It is the filesystem guard where bubblewrap is missing.

Resource limits (rlimits) always apply. ``wrap`` puts a small trampoline,
``confine.py``, between the namespaces and the child. On macOS and Windows (students'
own machines) none of these layers exist: the child is a separate process with limits
where the platform has them, and nothing Linux-only is imported.

Settings (environment variables), each said in the notes when it weakens the sandbox:

* ``GRADER_ISOLATION=bwrap|unshare|none`` caps the namespaces used (for a machine where
  they misbehave, or to test a configuration);
* ``GRADER_SANDBOX_WITHOUT=landlock,uid`` turns those layers off (tests prove each layer
  alone);
* ``GRADER_REQUIRE_ISOLATION=bwrap|unshare|uid|landlock`` (comma-separated) refuses to
  grade when the sandbox is weaker, so a CI machine cannot silently lose bubblewrap.

Official grading as root refuses when the child would stay uid 0 (no namespaces and an
interpreter other uids cannot read): uid 0 is not bounded in processes. The students'
self-check (``advisory()``) grades anyway and says so.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from pathlib import Path

try:
    import resource  # POSIX only: Windows has no rlimits
except ImportError:
    resource = None

LINUX = sys.platform.startswith("linux")  # namespaces, uids, Landlock, prctl: Linux only

ROOT_UID_BASE = 1_800_000_000  # a block of uids no account uses; one per scratch folder
ROOT_UID_SPAN = 100_000_000
WORK_BYTES = 256 << 20  # the child's writable space, under bubblewrap
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime",
    "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/fonts", "/etc/mime.types",
)
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
STRENGTH = {"bwrap": 2, "unshare": 1, None: 0}  # namespaces, strongest first


class IsolationRefused(RuntimeError):
    """The sandbox here is weaker than grading may use; the message says why and what to do."""


_advisory = False


def advisory() -> None:
    """This process grades a student's own copy (check, the pytest plugin): the grade is
    advisory, so a weaker sandbox is used and reported rather than refused."""
    global _advisory
    _advisory = True


# ---- the parent side ---------------------------------------------------------------


def apply_limits(limits) -> None:
    """Runs in the child between fork and exec: cap memory, CPU, file size, open files,
    processes and core dumps. Must stay cheap: the parent may have other threads.
    Where the platform lacks a limit (macOS refuses some), the others still apply."""
    if resource is None:
        return
    for which, value in (
        ("RLIMIT_AS", limits.memory_bytes),
        ("RLIMIT_CPU", limits.cpu_seconds),
        ("RLIMIT_FSIZE", limits.file_bytes),
        ("RLIMIT_NOFILE", limits.open_files),
        ("RLIMIT_CORE", 0),
        ("RLIMIT_NPROC", _nproc_base + limits.processes),
    ):
        try:
            resource.setrlimit(getattr(resource, which), (value, value))
        except (AttributeError, ValueError, OSError):
            if LINUX:
                raise


def environment(workdir: Path) -> dict[str, str]:
    """A minimal environment: no tokens or secrets of the grader's own leak to student code."""
    from grader import assignments  # late: the assignments import the sandbox's callers

    home = workdir / "home"
    if not home.is_dir() or home.is_symlink():  # a previous child may have replaced it
        _remove(home)
        home.mkdir()
    _give(home, _sandbox_uid(workdir.parent))
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(workdir),
        "USER": "student",  # getpass.getuser() works without a passwd entry
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",  # plots render off screen; nothing waits on a window
        "OMP_NUM_THREADS": "1",  # one grade, one core: batch runs parallelise across submissions
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "GRADER_SANDBOX": "1",  # lets the reaper recognise the child's orphans
        **assignments.setting(),  # the course's own assignment folders: the child imports their probes
        # Windows' Python and its DLLs need to know where Windows is; absent elsewhere.
        **{name: os.environ[name] for name in ("VIRTUAL_ENV", "SYSTEMROOT", "WINDIR") if name in os.environ},
    }


def wrap(command: list[str], *, scratch: Path) -> tuple[list[str], list[str]]:
    """The command that starts ``command`` confined to ``scratch``, and notes on the
    isolation in force (they reach the student's results). Raises IsolationRefused when
    the sandbox here is weaker than grading may use."""
    global _nproc_base
    plan = probe()
    refusal = plan.refusal()
    if refusal:
        raise IsolationRefused(refusal)
    scratch = Path(scratch).resolve()
    uid = _sandbox_uid(scratch)
    _prepare(scratch, uid)
    # A fresh uid: the limit counts only the child's own processes; else leave room for what already runs.
    _nproc_base = 0 if uid is not None else _tasks_of(_grader_uid())
    if not LINUX:
        return command, plan.notes(uid)
    return _build(plan.layers, scratch, uid, command), plan.notes(uid)


def _prepare(scratch: Path, uid: int | None) -> None:
    """The child may write only ``work/``; the rest of the scratch folder (the submission's
    copy) stays the grader's, traversable but not listable by the child's uid."""
    if uid is not None:
        os.chmod(scratch, 0o711)
        _give(scratch / "work", uid)


def decode_status(code: int | None) -> int | None:
    """In a pid namespace the supervisor, its init, cannot die of a signal and reports a
    child killed by signal N as exit status 128 + N; return -N as subprocess does for an
    unwrapped child, so a crash is reported as a signal."""
    if code is not None and probe().layers.namespaces and 128 < code < 128 + 65:
        return 128 - code
    return code


_nproc_base = 0  # tasks the child's uid already runs; set by wrap() just before the fork


class Layers:
    """One combination of mechanisms: namespaces ("bwrap", "unshare" or None), whether the
    uid is dropped, and the Landlock ABI used (0: none)."""

    def __init__(self, namespaces: str | None, drop: bool, landlock: int):
        self.namespaces, self.drop, self.landlock = namespaces, drop, landlock


def _build(layers: Layers, scratch: Path, uid: int | None, command: list[str], zygote: bool = False) -> list[str]:
    """``zygote``: ``command`` is a fork server, which stays root and confines each fork itself
    (grader/sandbox/forkserver.py); its ``work/`` is closed to the forks' uids."""
    view = View.for_scratch(scratch)
    work = scratch / "work"
    mounts = layers.namespaces == "unshare"  # root, or root in a user namespace of its own: it may mount
    cover, keep = _covered(view, ROOT_UID_BASE if zygote else uid) if mounts else ([], [])
    spec = {
        "namespace": layers.namespaces is not None,
        "zygote": zygote,
        "uid": uid,
        "cover": cover,  # private folders hiding the interpreter from the child's uid: emptied...
        "keep": keep,  # ...and what the child reads, bound (back) read-only
        "hidden": [str(p) for p in view.hidden if p.exists()] if mounts else [],
        "work": [str(work), WORK_BYTES] if mounts else None,  # a tmpfs of capped size: all the child may write
        "landlock": view.landlock_rules() if layers.landlock else [],
    }
    trampoline = [sys.executable, "-I", "-S", str(Path(__file__).with_name("confine.py").resolve()), json.dumps(spec), "--", *command]
    rootless = _grader_uid() != 0
    if layers.namespaces == "bwrap":
        return [_which("bwrap"), *_bwrap_args(view, work, rootless, "0700" if zygote else "01777"), "--", *trampoline]
    if layers.namespaces == "unshare":
        return [_which("unshare"), *_unshare_args(rootless), "--", *trampoline]
    return trampoline


def _covered(view: View, uid: int | None) -> tuple[list[str], list[str]]:
    """For a mount namespace of the trampoline's: the folders that hide what the child
    needs from its uid (a Python under /root, mode 700), to be emptied; and what the
    child reads, to be bound (back) read-only, as bubblewrap would."""
    needed = _outermost({Path(os.path.realpath(p)) for p in view.read} | {view.scratch})
    cover = set()
    for path in needed if uid is not None else ():
        closed = [d for d in reversed(path.parents) if d != Path("/") and not d.stat().st_mode & 0o001]
        cover |= set(closed[:1])
    return sorted(map(str, cover)), sorted(map(str, needed))


class Plan:
    """What this machine offers, probed once by starting a trivial child under each
    candidate, strongest first."""

    def __init__(self):
        self.missing: list[str] = []  # why a stronger mechanism is not in force
        if not LINUX:
            self.layers = Layers(None, False, 0)
            self.missing.append(f"on {sys.platform} the sandbox is a separate process with limits (namespaces, uids and Landlock are Linux's)")
            return
        from grader.sandbox.confine import landlock_abi

        ceiling = os.environ.get("GRADER_ISOLATION", "bwrap")  # an instructor may force a weaker one
        order = ["bwrap", "unshare", None]
        if ceiling not in ("bwrap", "unshare", "none"):
            self.missing.append(f"GRADER_ISOLATION={ceiling!r} is not bwrap, unshare or none")
            ceiling = "none"
        if ceiling != "bwrap":
            self.missing.append(f"stronger isolation turned off by GRADER_ISOLATION={ceiling}")
            order = order[order.index(ceiling if ceiling != "none" else None) :]
        without = _setting("GRADER_SANDBOX_WITHOUT")
        self.missing += [f"{layer} turned off by GRADER_SANDBOX_WITHOUT" for layer in sorted(without)]
        landlock, root = (0 if "landlock" in without else landlock_abi()), _grader_uid() == 0
        drops = [True, False] if root and "uid" not in without else [False]
        candidates = [Layers(n, drop, landlock) for n in order for drop in drops]
        candidates.append(Layers(None, False, 0))  # should Landlock itself fail
        for layers in candidates:
            why = _try(layers)
            if why is None:
                self.layers = layers
                break
            self.missing.append(f"{_name(layers)} failed ({why})")
        else:
            self.layers = Layers(None, False, 0)

    def notes(self, uid: int | None) -> list[str]:
        layers = self.layers
        parts = {
            "bwrap": "bubblewrap namespaces (own filesystem view without the reference solutions, no network, own process tree)",
            "unshare": "unshare namespaces (reference solutions hidden, writes capped, no network, own process tree)",
            None: "no namespaces",
        }
        mechanisms = [parts[layers.namespaces]]
        mechanisms.append(f"uid {uid} instead of root" if uid is not None else f"uid {_grader_uid()}, the grader's own")
        mechanisms.append(f"Landlock ABI {layers.landlock}" if layers.landlock else "no Landlock")
        notes = ["sandbox: " + "; ".join(mechanisms) + "; resource limits"]
        weaker = list(self.missing)
        if LINUX and layers.namespaces is None:
            weaker.append("no namespaces (bubblewrap or unshare)")
        if _grader_uid() == 0 and uid is None:
            weaker.append("the child runs as uid 0 (without capabilities)")
        if LINUX and not layers.landlock:
            weaker.append("no Landlock")
        if weaker:
            exposed = self.exposed(uid)
            notes.append("sandbox WEAKER than intended: " + "; ".join(weaker) + (f"; so student code {exposed}" if exposed else ""))
        return notes

    def exposed(self, uid: int | None) -> str:
        """What the missing layers leave open, in words."""
        layers, gaps = self.layers, []
        if not LINUX:
            return "can do whatever the user running the check can (this grade is advisory; the official one runs on Linux)"
        if layers.namespaces is None and not layers.landlock:
            gaps.append("can read the reference solutions and write outside its folder")
        elif layers.namespaces == "unshare" and not layers.landlock:  # the reference is hidden, the system read-only
            gaps.append("can read files outside its folder" + (" and write the grader's" if uid is None else ""))
        if layers.namespaces is None and layers.landlock < 4:
            gaps.append("has network access")
        elif layers.namespaces is None:
            gaps.append("can use UDP and local Unix sockets (Landlock blocks TCP only)")
        if layers.namespaces is None and uid is None and layers.landlock < 6:
            gaps.append("can signal the grader")
        if layers.namespaces is None:
            gaps.append("can fill the disk through its folder (bounded per file only)")
        if uid is None and _grader_uid() == 0:
            gaps.append("is not bounded in processes (uid 0 is exempt from RLIMIT_NPROC)")
        return ", ".join(gaps)

    def refusal(self) -> str | None:
        """Why grading must not run with this sandbox, or None."""
        required = _setting("GRADER_REQUIRE_ISOLATION")
        held = {
            "bwrap": STRENGTH[self.layers.namespaces] >= STRENGTH["bwrap"],
            "unshare": STRENGTH[self.layers.namespaces] >= STRENGTH["unshare"],
            "uid": self.layers.drop or (LINUX and _grader_uid() != 0),
            "landlock": bool(self.layers.landlock),
        }
        unmet = sorted(r for r in required if not held.get(r, False))
        why = "; ".join(self.missing) or "nothing stronger was tried"
        if unmet:
            return (
                f"refusing to grade: GRADER_REQUIRE_ISOLATION asks for {', '.join(unmet)}, which this machine does not give "
                f"(known: {', '.join(held)}). {self.notes(None)[0]}. Why: {why}"
            )
        if LINUX and _grader_uid() == 0 and not self.layers.drop and not _advisory:
            return (
                "refusing to grade as root: student code would run as uid 0, which no process limit bounds "
                f"(a fork bomb could take the machine). Why: {why}. Install bubblewrap (apt-get install bubblewrap), "
                "allow namespaces (unshare), or install Python where other users can read it"
            )
        return None


def _setting(name: str) -> set[str]:
    return {word.strip().lower() for word in os.environ.get(name, "").split(",") if word.strip()}


def _grader_uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None  # Windows has no uids


def _name(layers: Layers) -> str:
    parts = [layers.namespaces or "no namespaces"]
    parts += ["own uid"] if layers.drop else []
    parts += [f"Landlock {layers.landlock}"] if layers.landlock else []
    return " + ".join(parts)


def _try(layers: Layers) -> str | None:
    """None if a trivial child starts under ``layers``, else why not."""
    import subprocess
    import tempfile

    if layers.namespaces and _which(layers.namespaces) is None:
        return f"{layers.namespaces} is not installed" + (" (apt-get install bubblewrap)" if layers.namespaces == "bwrap" else "")
    if layers.drop and layers.namespaces is None and not _readable_by_others():
        return "another uid cannot read this Python installation, and without a mount namespace nothing can show it"
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as scratch:
        scratch = Path(scratch)
        (scratch / "work").mkdir()
        uid = ROOT_UID_BASE if layers.drop else None
        _prepare(scratch, uid)
        command = _build(layers, scratch, uid, [sys.executable, "-I", "-S", "-c", "pass"])
        try:
            done = subprocess.run(command, capture_output=True, timeout=30, stdin=subprocess.DEVNULL, cwd=scratch / "work")
        except (OSError, subprocess.TimeoutExpired) as error:
            return str(error)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {done.returncode}"
    return None


_plan: Plan | None = None


def probe() -> Plan:
    global _plan
    if _plan is None:
        _plan = Plan()
    return _plan


class View:
    """The paths the child may see: read-only trees, its read-write scratch, and paths
    under those trees that stay hidden (the reference package, the checks modules)."""

    def __init__(self, read: list[Path], scratch: Path, hidden: list[Path]):
        self.read, self.scratch, self.hidden = read, scratch, hidden

    @classmethod
    def for_scratch(cls, scratch: Path) -> View:
        import site

        from grader import assignments  # late: the assignments import the sandbox's callers

        grader = Path(__file__).resolve().parent.parent
        python = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent.parent}
        python |= {Path(p) for p in site.getsitepackages()}
        read = [Path(p) for p in (*SYSTEM_DIRS, *ETC_FILES)]
        read += sorted(_outermost({p.resolve() for p in python if p.exists()}) - {Path("/")})
        read.append(grader)
        read += assignments.COURSE_FOLDERS  # read-only; their hidden modules are hidden as the grader's own
        return cls([p for p in read if os.path.lexists(p)], scratch, _hidden(grader))

    def landlock_rules(self) -> list[tuple[str, str]]:
        """(path, mode) rules, mode "d" (list), "r", "rx" or "rw"; hidden paths are left out
        by allowing their siblings instead of their parent."""
        rules = []
        for path in self.read:
            rules += [(str(p), mode) for p, mode in _allowed_beneath(Path(os.path.realpath(path)), self.hidden)]
        rules += [(device, "rw") for device in DEVICES]
        rules += [("/proc", "r"), (str(self.scratch), "r"), (str(self.scratch / "work"), "rw")]
        return rules


def _hidden(grader: Path) -> list[Path]:
    """The reference package wherever it is installed, and what each assignment declares
    ``hidden`` (its checks, source and bytecode): they run only in the grading process."""
    import importlib.util

    hidden = [grader.parent / "reference"]
    try:
        spec = importlib.util.find_spec("reference")
    except (ImportError, ValueError):
        spec = None
    hidden += [Path(p).resolve() for p in (spec.submodule_search_locations or [])] if spec else []
    from grader import assignments  # late: the assignments import the sandbox's callers

    for name in assignments.names():  # every assignment's, not only the one graded: one view serves all
        hidden += assignments.declared(name).hidden_paths()  # declared: hiding needs no import of the checks (torch)
    return sorted(set(hidden))


def _bwrap_args(view: View, work: Path, rootless: bool, work_perms: str = "01777") -> list[str]:
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    # --as-pid-1: the trampoline's supervisor is the namespace's init, so when it ends
    # everything ends (bwrap's own init would outlive bwrap as an orphan of the grader's).
    # Not --die-with-parent: it fires when the grader *thread* that started bwrap exits.
    args += ["--as-pid-1", "--new-session", "--hostname", "sandbox"]
    if rootless:
        args += ["--unshare-user", "--disable-userns"]
    # A fresh /tmp first: mounted after the binds it would hide any of them under /tmp
    # (a checkout or venv in /tmp, as a CI clone may be).
    args += ["--tmpfs", "/tmp"]
    args += _parents(view.read)
    for path in view.read:
        if os.path.islink(path) and str(path) in SYSTEM_DIRS:  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(path), str(path)]
        else:
            args += ["--ro-bind", str(path), str(path)]
    for path in view.hidden:
        if path.exists() and any(path.is_relative_to(os.path.realpath(r)) for r in view.read):
            args += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    args += ["--proc", "/proc", "--dev", "/dev"]
    # /tmp and the scratch folder are read-only; the child writes only in work/, a tmpfs of
    # capped size, so it can fill neither the grader's disk nor its memory.
    args += [*_parents([view.scratch]), "--ro-bind", str(view.scratch), str(view.scratch)]
    args += ["--remount-ro", "/tmp", "--perms", work_perms, "--size", str(WORK_BYTES), "--tmpfs", str(work)]
    args += ["--perms", work_perms, "--dir", str(work / "home")]
    return args + ["--chdir", str(work)]


def _parents(paths: list[Path]) -> list[str]:
    """bwrap arguments making the missing parents of ``paths`` 0755 (bwrap would make them
    0700, closed to the child's uid)."""
    args, made = [], set()
    for path in paths:
        for parent in reversed(path.parents[:-1]):
            if parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _unshare_args(rootless: bool) -> list[str]:
    args = ["--pid", "--fork", "--kill-child", "--mount-proc", "--net", "--ipc", "--uts"]
    # Root in the user namespace: a mapped ordinary uid would lose, at exec, the capabilities
    # the trampoline needs to mount (it drops them all before the child starts).
    return (["--user", "--map-root-user"] if rootless else []) + args


def _sandbox_uid(scratch: Path) -> int | None:
    """The uid a child in ``scratch`` runs as: its own when the grader is root, else none.
    Derived from the folder so a replacement child reads what its predecessor wrote."""
    if not probe().layers.drop:
        return None
    return ROOT_UID_BASE + zlib.crc32(str(Path(scratch).resolve()).encode()) % ROOT_UID_SPAN


def _give(path: Path, uid: int | None) -> None:
    """Hand a scratch directory to the child's uid; never follows a link it may have planted."""
    if uid is not None and path.is_dir() and not path.is_symlink():
        os.chown(path, uid, uid, follow_symlinks=False)
        os.chmod(path, 0o700, follow_symlinks=False)


def _remove(path: Path) -> None:
    import shutil

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _which(name: str) -> str | None:
    import shutil

    return shutil.which(name, path="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")


def scratch_base() -> str | None:
    """Where scratch folders go: the temporary folder (None), unless a child without
    namespaces runs as a uid of its own and could not reach it there (a TMPDIR under a
    private home); then the system's, which every uid can traverse."""
    if not LINUX or probe().layers.namespaces or not probe().layers.drop:
        return None
    import tempfile

    return next((base for base in (tempfile.gettempdir(), "/tmp", "/var/tmp") if _searchable(Path(base))), None)


def _searchable(folder: Path) -> bool:
    """Whether another uid can reach inside ``folder``: it and every folder above it are searchable by others."""
    return all(part.stat().st_mode & 0o001 for part in [folder.resolve(), *folder.resolve().parents])


def _readable_by_others() -> bool:
    """Whether another uid could run this Python and import the grader: every directory on
    the way is searchable and the interpreter executable by others."""
    paths = [Path(sys.executable).resolve(), Path(sys.base_prefix), Path(sys.prefix), Path(__file__).resolve()]
    for path in paths:
        for part in [path, *path.parents]:
            mode = part.stat().st_mode
            if not mode & (0o001 if part.is_dir() or part == paths[0] else 0o004):
                return False
    return True


def _tasks_of(uid: int | None) -> int:
    """Processes and threads running as ``uid`` now (what RLIMIT_NPROC counts)."""
    import psutil

    count = 0
    for process in psutil.process_iter(["uids", "num_threads"]):
        uids, threads = process.info["uids"], process.info["num_threads"]
        if uids is not None and uids.real == uid:
            count += threads or 0
    return count


def _outermost(paths: set[Path]) -> set[Path]:
    """Drop paths inside another path of the set (one bind covers them)."""
    return {p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)}


def _allowed_beneath(root: Path, hidden: list[Path]):
    """``root`` itself if nothing hidden is inside it; else its entries, recursively,
    leaving out the hidden ones (Landlock can only allow, never deny)."""
    inside = [h for h in hidden if h.is_relative_to(root)]
    if not inside:
        yield root, "rx"
        return
    if root in inside:
        return
    yield root, "d"  # listing it is harmless; its entries get their own rules
    for entry in sorted(root.iterdir()):
        yield from _allowed_beneath(entry, inside)


