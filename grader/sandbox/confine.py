"""The trampoline between the namespaces and the sandbox child.

``isolation.wrap`` runs this file as a script (``python -I -S confine.py SPEC -- CHILD``),
inside bubblewrap or unshare when they are in force. It gives the child a session
keyring of its own; under ``unshare`` it shows the child's uid the interpreter a private
folder hides, hides the reference, and caps what the child may write with a tmpfs; it
sets no_new_privs and starts the child, which alone drops its uid (or, failing that,
every capability) and enters Landlock, so it cannot reach the supervisor; and it stays
as the child's supervisor (the namespace's init) until the child ends or the grader dies. Linux and the standard library only: it runs before any site-packages
are allowed.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

LANDLOCK_FS_FILE = (1 << 0) | (1 << 1) | (1 << 2)  # execute, write file, read file
LANDLOCK_FS_READ = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read file, read dir
LANDLOCK_FS_ALL_V1 = (1 << 13) - 1
PR_SET_NO_NEW_PRIVS, PR_SET_SECUREBITS, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_SET_DUMPABLE = 38, 28, 24, 47, 4
SECURE_NOROOT_ALL = 0b101111  # noroot, no_setuid_fixup, keep_caps_locked, each with its lock bit
SYS_LANDLOCK = {"create": 444, "add": 445, "restrict": 446}  # the same number on every architecture
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
KEYCTL_JOIN_SESSION_KEYRING = 1
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219, "i686": 288, "armv7l": 311, "ppc64le": 280, "s390x": 280, "riscv64": 219}


def landlock_abi() -> int:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = libc.syscall(SYS_LANDLOCK["create"], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0
    return max(version, 0)


def _handled_fs(abi: int) -> int:
    handled = LANDLOCK_FS_ALL_V1
    handled |= (1 << 13) if abi >= 2 else 0  # refer: moving files between directories
    handled |= (1 << 14) if abi >= 3 else 0  # truncate
    handled |= (1 << 15) if abi >= 5 else 0  # ioctl on devices
    return handled


def _landlock(rules: list[tuple[str, str]], abi: int) -> None:
    """Restrict this process and everything it starts: read and execute under the "rx"
    paths, read under "r", read and write under "rw"; no TCP; (ABI 6) no signals or
    abstract sockets beyond its own domain. Landlock rules can only allow."""
    libc = ctypes.CDLL(None, use_errno=True)
    handled = _handled_fs(abi)
    attr = (ctypes.c_uint64 * 3)(handled, (1 << 0) | (1 << 1) if abi >= 4 else 0, (1 << 0) | (1 << 1) if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = libc.syscall(SYS_LANDLOCK["create"], ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    writes = handled & ~LANDLOCK_FS_READ  # create, remove, rename, truncate...
    for path, mode in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        access = {"d": 1 << 3, "r": (1 << 2) | (1 << 3), "rx": LANDLOCK_FS_READ, "rw": LANDLOCK_FS_READ | writes}[mode] & handled
        if not os.path.isdir(path):
            access &= LANDLOCK_FS_FILE | (1 << 14) | (1 << 15)
        beneath = (ctypes.c_uint8 * 12).from_buffer_copy(access.to_bytes(8, "little") + fd.to_bytes(4, "little", signed=True))
        if libc.syscall(SYS_LANDLOCK["add"], ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(beneath), ctypes.c_uint32(0)):
            raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
        os.close(fd)
    if libc.syscall(SYS_LANDLOCK["restrict"], ctypes.c_int(ruleset), ctypes.c_uint32(0)):
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    os.close(ruleset)


def _mount(source: bytes | None, target: str, kind: bytes | None, flags: int, options: bytes | None = None) -> None:
    if ctypes.CDLL(None, use_errno=True).mount(source, target.encode(), kind, flags, options):
        raise OSError(ctypes.get_errno(), f"mount {target}")


def _own_keyring() -> None:
    """A new, empty session keyring: the grader's (inherited otherwise, and readable by
    whoever possesses it, whatever its uid) is out of reach."""
    import errno

    number = SYS_KEYCTL.get(os.uname().machine)
    libc = ctypes.CDLL(None, use_errno=True)
    if number is None:
        raise OSError(errno.ENOSYS, f"no keyctl system call number known for {os.uname().machine}")
    if libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None) < 0 and ctypes.get_errno() not in (errno.ENOSYS, errno.EPERM):
        # ENOSYS, EPERM: keyrings are forbidden here (Docker's seccomp profile), to the child too
        raise OSError(ctypes.get_errno(), "could not give the child a session keyring of its own")


def _expose(cover: list[str], keep: list[str]) -> None:
    """In a private mount namespace: an empty read-only tmpfs over each folder in
    ``cover`` (a private home holding the interpreter), and each path in ``keep`` bound
    (back) read-only, as bubblewrap binds them."""
    originals = [(os.open(path, os.O_PATH | os.O_CLOEXEC), path) for path in keep]
    for folder in cover:
        _mount(b"tmpfs", folder, b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=1m")
    for fd, path in originals:
        if not os.path.lexists(path):  # under a cover: make the mount point
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(path, mode=0o755)
            else:
                os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                open(path, "x").close()
        _mount(f"/proc/self/fd/{fd}".encode(), path, None, MS_BIND | MS_REC)
        _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | _locked_flags(path))
        os.close(fd)
    for folder in cover:
        _mount(None, folder, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _locked_flags(path: str) -> int:
    """The nosuid, nodev, noexec and atime flags a remount must keep (in a user namespace
    it may not clear them); statvfs reports them with the mount flags' values, but relatime."""
    flags = os.statvfs(path).f_flag
    return flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME) | (MS_RELATIME if flags & os.ST_RELATIME else 0)


def _writable_work(work: str, size: int, uid: int | None) -> None:
    """In a private mount namespace: the child's work folder becomes a tmpfs of ``size``
    bytes, the only place it may write, with ``home/`` inside."""
    _mount(b"tmpfs", work, b"tmpfs", MS_NOSUID | MS_NODEV, f"mode=0700,size={size}".encode())
    os.mkdir(os.path.join(work, "home"), 0o700)
    if uid is not None:
        os.chown(work, uid, uid)
        os.chown(os.path.join(work, "home"), uid, uid)


def _hide(paths: list[str]) -> None:
    """In a private mount namespace as root: an empty tmpfs over each hidden directory."""
    libc = ctypes.CDLL(None, use_errno=True)
    for path in paths:
        if not os.path.lexists(path):  # under a folder covered and not bound back: the child cannot reach it
            continue
        source, kind, flags = (b"tmpfs", b"tmpfs", MS_NOSUID | MS_NODEV) if os.path.isdir(path) else (b"/dev/null", None, MS_BIND)
        if libc.mount(source, path.encode(), kind, flags, None):
            raise OSError(ctypes.get_errno(), f"hide {path}")


def _drop_capabilities() -> None:
    """Stay uid 0 but hold no capability, now or after exec (securebits "noroot")."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECUREBITS, SECURE_NOROOT_ALL, 0, 0, 0):
        raise OSError(ctypes.get_errno(), "PR_SET_SECUREBITS")
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) and ctypes.get_errno() == 22:
            break  # past the last capability this kernel knows
    libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # clear all ambient capabilities
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    if libc.capset(header, (ctypes.c_uint32 * 6)()):
        raise OSError(ctypes.get_errno(), "capset")


def _confine_and_exec(spec: dict, command: list[str]) -> None:
    uid = spec["uid"]
    os.umask(0o022)
    _own_keyring()
    _expose(spec["cover"], spec["keep"])
    _hide(spec["hidden"])  # held in place by Landlock, which forbids unmounting
    if spec["work"]:
        _writable_work(*spec["work"], uid)
        os.chdir(spec["work"][0])  # the new tmpfs, not the folder it covers
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # the mark the reaper knows
    child = os.fork()
    if child == 0:
        try:  # only the child is confined: the supervisor stays out of its reach (another uid, another domain)
            if not spec.get("zygote"):  # a fork server confines each of its forks itself (forkserver.py)
                _become_student(uid, spec["landlock"])
            os.execv(command[0], command)
        except BaseException as error:
            os.write(2, f"sandbox: {type(error).__name__}: {error}\n".encode())
            os._exit(1)
    _supervise(child, namespace=spec["namespace"])


def _become_student(uid: int | None, rules: list) -> None:
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # all capabilities go with uid 0
    elif os.getuid() == 0:
        _drop_capabilities()
    if rules:
        _landlock([tuple(rule) for rule in rules], landlock_abi())


def _supervise(child: int, namespace: bool) -> None:
    """Stay as the child's parent until it ends, then end with its status. Should the
    grader die first (its end of our stdout pipe closes), end the child and all it
    started. In a pid namespace this process is its init: it reaps orphans, and its
    exit ends every process there. Unlike PR_SET_PDEATHSIG, nothing here depends on
    which of the grader's threads started the sandbox."""
    import select
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # the child's uid may not trace us
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])  # the answer pipe must close when the child dies
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only the grader's SIGKILL ends us early
    watch = select.poll()
    watch.register(1, select.POLLERR)  # a pipe's write end reports POLLERR once nobody reads it
    watch.register(wake_read, select.POLLIN)
    while True:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(1)
            if pid == 0:
                break
            if pid == child:
                _end_like(status, namespace)
        for fd, _ in watch.poll(5000):
            if fd == 1:  # the grader is gone: everything in the namespace, or our process group
                os.kill(-1 if namespace else 0, signal.SIGKILL)
                os._exit(137)
            os.read(wake_read, 512)


def _end_like(status: int, namespace: bool) -> None:
    """Exit with the child's status. A namespace's init cannot die of its own signal, so
    there a signal N becomes exit status 128 + N (decode_status turns it back)."""
    import signal

    if os.WIFSIGNALED(status):
        if not namespace:
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(status))
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    separator = sys.argv.index("--")
    _confine_and_exec(json.loads(sys.argv[1]), sys.argv[separator + 1 :])
