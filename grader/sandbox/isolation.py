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
``confine.py``, between the namespaces and the child.

``GRADER_ISOLATION=unshare|none`` caps the namespaces used (for a machine where they
misbehave); like every missing layer, it is said in the notes.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import zlib
from pathlib import Path

from grader.sandbox.confine import landlock_abi

ROOT_UID_BASE = 1_800_000_000  # a block of uids no account uses; one per scratch folder
ROOT_UID_SPAN = 100_000_000
WORK_BYTES = 256 << 20  # the child's writable space, under bubblewrap
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime",
    "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/fonts", "/etc/mime.types",
)
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


# ---- the parent side ---------------------------------------------------------------


def apply_limits(limits) -> None:
    """Runs in the child between fork and exec: cap memory, CPU, file size, open files,
    processes and core dumps. Must stay cheap: the parent may have other threads."""
    for which, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, _nproc_base + limits.processes),
    ):
        resource.setrlimit(which, (value, value))


def environment(workdir: Path) -> dict[str, str]:
    """A minimal environment: no tokens or secrets of the grader's own leak to student code."""
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
        **({"VIRTUAL_ENV": os.environ["VIRTUAL_ENV"]} if "VIRTUAL_ENV" in os.environ else {}),
    }


def wrap(command: list[str], *, scratch: Path) -> tuple[list[str], list[str]]:
    """The command that starts ``command`` confined to ``scratch``, and notes on the
    isolation in force (they reach the student's results)."""
    global _nproc_base
    plan = probe()
    scratch = Path(scratch).resolve()
    uid = _sandbox_uid(scratch)
    if uid is not None:
        _give(scratch, uid)
        _give(scratch / "work", uid)
        _nproc_base = 0  # a fresh uid: the limit counts only the child's own processes
    else:
        _nproc_base = _tasks_of(os.getuid())  # the grader's uid: leave room for what already runs
    return _build(plan.layers, scratch, uid, command), plan.notes(uid)


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


def _build(layers: Layers, scratch: Path, uid: int | None, command: list[str]) -> list[str]:
    view = View.for_scratch(scratch)
    work = scratch / "work"
    hide = layers.namespaces == "unshare" and os.getuid() == 0  # root in a mount namespace of its own
    spec = {
        "namespace": layers.namespaces is not None,
        "uid": uid,
        "hidden": [str(p) for p in view.hidden if p.exists()] if hide else [],
        "landlock": view.landlock_rules() if layers.landlock else [],
    }
    trampoline = [sys.executable, "-I", "-S", str(Path(__file__).with_name("confine.py").resolve()), json.dumps(spec), "--", *command]
    rootless = os.getuid() != 0
    if layers.namespaces == "bwrap":
        return [_which("bwrap"), *_bwrap_args(view, work, rootless), "--", *trampoline]
    if layers.namespaces == "unshare":
        return [_which("unshare"), *_unshare_args(rootless), "--", *trampoline]
    return trampoline


class Plan:
    """What this machine offers, probed once by starting a trivial child under each
    candidate, strongest first."""

    def __init__(self):
        self.missing: list[str] = []  # why a stronger mechanism is not in force
        ceiling = os.environ.get("GRADER_ISOLATION", "bwrap")  # an instructor may force a weaker one
        order = ["bwrap", "unshare", None]
        if ceiling not in ("bwrap", "unshare", "none"):
            self.missing.append(f"GRADER_ISOLATION={ceiling!r} is not bwrap, unshare or none")
            ceiling = "none"
        if ceiling != "bwrap":
            self.missing.append(f"stronger isolation turned off by GRADER_ISOLATION={ceiling}")
            order = order[order.index(ceiling if ceiling != "none" else None) :]
        landlock, root = landlock_abi(), os.getuid() == 0
        candidates = [Layers(n, drop, landlock) for n in order for drop in ([True, False] if root else [False])]
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
            "unshare": "unshare namespaces (no network, own process tree)",
            None: "no namespaces",
        }
        mechanisms = [parts[layers.namespaces]]
        mechanisms.append(f"uid {uid} instead of root" if uid is not None else f"uid {os.getuid()}, the grader's own")
        mechanisms.append(f"Landlock ABI {layers.landlock}" if layers.landlock else "no Landlock")
        notes = ["sandbox: " + "; ".join(mechanisms) + "; resource limits"]
        weaker = list(self.missing)
        if layers.namespaces is None:
            weaker.append("no namespaces (bubblewrap or unshare)")
        if os.getuid() == 0 and uid is None:
            weaker.append("the child runs as uid 0 (without capabilities)")
        if not layers.landlock:
            weaker.append("no Landlock")
        if weaker:
            exposed = self.exposed(uid)
            notes.append("sandbox WEAKER than intended: " + "; ".join(weaker) + (f"; so student code {exposed}" if exposed else ""))
        return notes

    def exposed(self, uid: int | None) -> str:
        """What the missing layers leave open, in words."""
        layers, gaps = self.layers, []
        if layers.namespaces != "bwrap" and not layers.landlock:
            gaps.append("can read the reference solutions and write outside its folder")
        if layers.namespaces is None and layers.landlock < 4:
            gaps.append("has network access")
        if layers.namespaces is None and uid is None and layers.landlock < 6:
            gaps.append("can signal the grader")
        if uid is None and os.getuid() == 0:
            gaps.append("is not bounded in processes (uid 0 is exempt from RLIMIT_NPROC)")
        return ", ".join(gaps)


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
    if layers.drop and layers.namespaces != "bwrap" and not _readable_by_others():
        return "another uid cannot read this Python installation"
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as scratch:
        scratch = Path(scratch)
        (scratch / "work").mkdir()
        uid = ROOT_UID_BASE if layers.drop else None
        if uid is not None:
            _give(scratch, uid)
            _give(scratch / "work", uid)
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

        grader = Path(__file__).resolve().parent.parent
        python = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent.parent}
        python |= {Path(p) for p in site.getsitepackages()}
        read = [Path(p) for p in (*SYSTEM_DIRS, *ETC_FILES)]
        read += sorted(_outermost({p.resolve() for p in python if p.exists()}) - {Path("/")})
        read.append(grader)
        return cls([p for p in read if os.path.lexists(p)], scratch, _hidden(grader))

    def landlock_rules(self) -> list[tuple[str, str]]:
        """(path, mode) rules, mode "d" (list), "r", "rx" or "rw"; hidden paths are left out
        by allowing their siblings instead of their parent."""
        rules = []
        for path in self.read:
            rules += [(str(p), mode) for p, mode in _allowed_beneath(Path(os.path.realpath(path)), self.hidden)]
        rules += [(device, "rw") for device in DEVICES]
        rules += [("/proc", "r"), (str(self.scratch), "rw")]
        return rules


def _hidden(grader: Path) -> list[Path]:
    """The reference package wherever it is installed, and each assignment's checks
    (source and bytecode): they run only in the grading process."""
    import importlib.util

    hidden = [grader.parent / "reference"]
    try:
        spec = importlib.util.find_spec("reference")
    except (ImportError, ValueError):
        spec = None
    hidden += [Path(p).resolve() for p in (spec.submodule_search_locations or [])] if spec else []
    for assignment in (grader / "assignments").iterdir():
        hidden += [p for p in (assignment / "checks.py", assignment / "checks") if p.exists()]
        hidden += sorted((assignment / "__pycache__").glob("checks.*"))
    return sorted(set(hidden))


def _bwrap_args(view: View, work: Path, rootless: bool) -> list[str]:
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
    # /tmp is read-only; the child writes only in work/, a tmpfs of capped size, so it can
    # fill neither the grader's disk nor its memory.
    args += [*_parents([view.scratch]), "--bind", str(view.scratch), str(view.scratch)]
    args += ["--remount-ro", "/tmp", "--perms", "01777", "--size", str(WORK_BYTES), "--tmpfs", str(work)]
    args += ["--perms", "01777", "--dir", str(work / "home")]
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
    return (["--user", "--map-current-user"] if rootless else []) + args


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


def _tasks_of(uid: int) -> int:
    """Processes and threads running as ``uid`` now (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                if f"\nUid:\t{uid}\t" in status:
                    count += int(status.split("\nThreads:")[1].split()[0])
            except (OSError, IndexError, ValueError):
                continue
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


