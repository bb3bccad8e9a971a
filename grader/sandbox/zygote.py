"""The fork server inside the sandbox: imports and warms the probes once, then forks one
confined child per request. It never imports or runs student code.

Runs as ``python -I -m grader.sandbox.zygote PROBES CONTROL_FD LIMITS_JSON``, started by
``forkserver.Zygote`` through ``isolation.wrap_zygote``: inside the sandbox's pid, mount,
network, ipc and uts namespaces, as root there (it needs root to confine each fork), with
no Landlock domain of its own (a Landlock domain may not mount). Requests come on
CONTROL_FD, a Unix seqpacket socket to the grading process, one JSON object per packet:

* ``{"op": "fork", "id": N, "uid": ..., "work": [path, bytes], "landlock": [...],
  "environment": {...}}`` with three descriptors attached (the child's stdin, its output
  and its answer pipe; the grading process holds the other ends). Everything an earlier
  child left is killed first. Answers ``{"forked": N}``, then ``{"exited": N, "code": C}``;
* ``{"op": "clear", "id": N}``: kill every process here but this one; answers ``{"cleared": N}``.

One child at a time. The fork gets a new session, mount, ipc and network namespace, its
own ``work/`` (a tmpfs of capped size), rlimits, its own uid and session keyring, and its
own Landlock domain (its own scratch folder only; from ABI 6 no signals out of it). Then it
runs ``grader.sandbox.child`` with the probes already imported.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import signal
import socket
import sys
import traceback
import types

from grader.sandbox import confine, isolation

PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x08000000, 0x40000000
MS_PRIVATE = 1 << 18
ANSWER_FD = 3  # where the child finds its answer pipe, as if the runner had passed it
MAX_REQUEST = 1 << 20


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), what)


def warm_up() -> None:
    """Pay torch's lazy costs here once (autograd, the optimizer, the data loader), not in
    each fork; then put its random generator back as a fresh import left it."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    import torch.utils.data  # noqa: F401 (the descent fixtures build loaders)

    state = torch.get_rng_state()
    model = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.mse_loss(model(torch.zeros(2, 1)), torch.zeros(2, 1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        model(torch.zeros(1, 1))
    torch.set_rng_state(state)


def clear() -> None:
    """Kill every process in this pid namespace but its init and this one, and reap them:
    as a child subreaper, everything a child left (daemons included) is ours to reap."""
    while True:
        try:
            os.kill(-1, signal.SIGKILL)  # in a pid namespace: all of it but init and us
        except ProcessLookupError:
            return
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break


def become_student(request: dict, fds: list[int], control: socket.socket, probes: str, limits) -> None:
    """In the fork: confine this process as the child of ``request`` and run the child's
    loop. Never returns."""
    code = 1
    try:
        control.detach()  # closed below; the object must not close a reused number later
        os.setsid()
        signal.set_wakeup_fd(-1)
        for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(number, signal.SIG_DFL)
        stdin, output, answer = fds
        os.dup2(stdin, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.dup2(answer, ANSWER_FD)
        os.closerange(ANSWER_FD + 1, os.sysconf("SC_OPEN_MAX"))
        libc = _libc()
        # Its own mounts (a tmpfs work/), System V IPC and network: nothing there outlives it.
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET), "unshare")
        _check(libc.mount(None, b"/", None, confine.MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
        uid = request["uid"]
        work, size = request["work"]
        confine._writable_work(work, size, uid)
        os.chdir(work)
        isolation.apply_limits(limits)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # every capability goes with uid 0
        libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # as after exec: its own /proc entries are its own
        confine._own_keyring()
        if request["landlock"]:
            confine._landlock([tuple(rule) for rule in request["landlock"]], confine.landlock_abi())
        os.environ.clear()
        os.environ.update(request["environment"])
        _fresh_state()
        sys.argv = [sys.argv[0], probes, str(ANSWER_FD)]
        from grader.sandbox import child

        child.main()
        code = 0
    except SystemExit as leaving:
        code = leaving.code if isinstance(leaving.code, int) else 1
    except BaseException as error:
        try:
            os.write(2, f"sandbox: {type(error).__name__}: {error}\n{traceback.format_exc()[-2000:]}".encode())
        except OSError:
            pass
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _fresh_state() -> None:
    """What a fresh interpreter would not share with the fork server: temporary folder,
    random seeds (Python's ``random`` reseeds itself at fork), and the import system's
    listings of folders, made outside this child's Landlock domain: with them, a module in
    a folder the child may not read is found and then refused (PermissionError), where a
    fresh interpreter would not find it (ImportError)."""
    import importlib
    import tempfile

    tempfile.tempdir = None  # from TMPDIR, this child's own work/
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def serve(control: socket.socket, probes: str, limits) -> None:
    """Answer the grading process's requests until it closes the socket."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    watch = select.poll()
    watch.register(control.fileno(), select.POLLIN)
    watch.register(wake_read, select.POLLIN)
    current: tuple[int, int] | None = None  # (request id, pid) of the running child

    def reap() -> None:
        nonlocal current
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if current and pid == current[1]:
                control.send(json.dumps({"exited": current[0], "code": os.waitstatus_to_exitcode(status)}).encode())
                current = None

    while True:
        reap()
        for fd, _ in watch.poll():
            if fd == wake_read:
                os.read(wake_read, 512)
                continue
            message, fds, _, _ = socket.recv_fds(control, MAX_REQUEST, 3)
            if not message:  # the grading process is gone: end with everything here
                clear()
                os._exit(0)
            request = json.loads(message)
            clear()
            if current:  # reaped by clear()
                control.send(json.dumps({"exited": current[0], "code": -signal.SIGKILL}).encode())
                current = None
            if request["op"] == "fork" and len(fds) == 3:
                sys.stdout.flush()  # nothing of ours may reach the child's output
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    become_student(request, fds, control, probes, limits)
                current = (request["id"], pid)
                control.send(json.dumps({"forked": request["id"]}).encode())
            else:
                control.send(json.dumps({"cleared": request["id"]}).encode())
            for fd in fds:
                os.close(fd)


def main() -> None:
    probes, control_fd, limits = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    libc = _libc()
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no child may trace it or read its memory
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # a child's orphans become ours to kill
    control = socket.socket(fileno=control_fd)
    importlib.import_module(probes)
    warm_up()
    control.send(json.dumps({"ready": True}).encode())
    serve(control, probes, types.SimpleNamespace(**limits))


if __name__ == "__main__":
    main()
