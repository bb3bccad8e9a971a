"""One of the reaper's scenarios (tests/test_sandbox_layers.py), run in a process of its own:
``python reaper_scenario.py KIND`` prints, as JSON, where the escaped process was and what
outlived each ``kill_tree``.

The reaper makes its process a child subreaper, which the test process must never become
(mutmut runs the tests in its own process, which would then wait on foreign orphans). The
test starts this script in a pid namespace of its own where it can: the reaper kills by
pid, so a broken one (a planted bug, a mutant) could otherwise kill whatever this user can.

The scenario: this process (the grader) has a child of its own that is not a sandbox child
(a bystander, in no session of its own) and a sandbox child still in use (busy, tracked).
Then a sandbox child starts, as the runner starts one (its own session, the environment
marker), and leaves a process behind, of one KIND:

* descendant: left the process group, still a descendant, its environment wiped, as a
  daemon would: only the process tree finds it;
* orphan: left the group and was orphaned, so it is re-parented to us; it keeps the marker;
* privless-orphan: the same with its environment wiped, but no_new_privs set (the sandbox
  sets it, and no descendant can clear it);
* group-orphan: orphaned but still in the child's process group, its environment wiped:
  only the group's signal reaches it.

The escaped process ignores every signal it can, as hostile code would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil

from grader.sandbox import reaper

KINDS = ("descendant", "orphan", "privless-orphan", "group-orphan")
PR_SET_NO_NEW_PRIVS = 38

# Ignores what it can, sets no_new_privs if asked, writes its pid to the fd in argv[1], sleeps.
ESCAPED = """
import ctypes, os, signal, sys, time
for number in signal.valid_signals():
    try:
        signal.signal(number, signal.SIG_IGN)
    except (OSError, ValueError):  # SIGKILL, SIGSTOP
        pass
if sys.argv[2] == "privless":
    ctypes.CDLL(None).prctl(%d, 1, 0, 0, 0)
os.write(int(sys.argv[1]), f"{os.getpid()}\\n".encode())
time.sleep(600)
""" % PR_SET_NO_NEW_PRIVS

# The sandbox child: starts the escaped process (through a middle process that exits, for
# the orphans), prints its pid and sleeps.
SPAWNER = """
import os, sys
kind, escaped = sys.argv[1], sys.argv[2]
read, write = os.pipe()
os.set_inheritable(write, True)
if os.fork() == 0:
    if kind != "group-orphan":
        os.setsid()
    if kind == "descendant" or os.fork() == 0:
        env = dict(os.environ) if kind == "orphan" else {}
        privless = "privless" if kind == "privless-orphan" else "-"
        os.execve(sys.executable, [sys.executable, "-c", escaped, str(write), privless], env)
    os._exit(0)
pid = os.read(read, 64).decode().strip()
if kind != "descendant":
    os.wait()  # the middle process is gone: the escaped one's parent is now the grader
print(pid, flush=True)
os.read(read, 1)  # sleeps until killed
"""

SANDBOXED = {**os.environ, "GRADER_SANDBOX": "1"}
SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def our_zombie(pid: int) -> bool:
    try:
        process = psutil.Process(pid)
        return process.ppid() == os.getpid() and process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def scenario(kind: str) -> dict:
    reaper.become_subreaper()
    bystander = subprocess.Popen(SLEEP)
    busy = subprocess.Popen(SLEEP, start_new_session=True, env=SANDBOXED)
    reaper.track(busy.pid)
    child = subprocess.Popen([sys.executable, "-c", SPAWNER, kind, ESCAPED], stdout=subprocess.PIPE, text=True,
                             start_new_session=True, env=SANDBOXED)  # fmt: skip
    escaped = int(child.stdout.readline())
    try:
        report = {
            "escaped": {
                "running": running(escaped),
                "a descendant": escaped in {p.pid for p in psutil.Process(child.pid).children(recursive=True)},
                "found by descendants()": escaped in reaper.descendants(child.pid),
                "re-parented to us": psutil.Process(escaped).ppid() == os.getpid(),
                "in the child's group": os.getpgid(escaped) == child.pid,
            },
        }
        reaper.kill_tree(child)
        report["after the child"] = {
            "child reaped": child.returncode is not None,
            "escaped running": running(escaped),
            "escaped our zombie": our_zombie(escaped),
            "busy running": running(busy.pid),
            "bystander running": running(bystander.pid),
        }
        reaper.kill_tree(busy)
        reaper.kill_tree(bystander)  # a child in no session of its own: no group to signal
        report["after all"] = {"busy reaped": busy.returncode is not None, "bystander reaped": bystander.returncode is not None}
        return report
    finally:  # outside a pid namespace nothing else would end them
        for pid in (escaped, child.pid, busy.pid, bystander.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def main(kind: str) -> int:
    if kind not in KINDS:
        raise SystemExit(f"usage: reaper_scenario.py {'|'.join(KINDS)}")
    if os.getpid() == 1:  # the first process of a new pid namespace: orphans come to it anyway, so
        worker = os.fork()  # the scenario runs in a child, which only the reaper can make their parent
        if worker == 0:
            print(json.dumps(scenario(kind)), flush=True)
            os._exit(0)
        _, status = os.waitpid(worker, 0)
        return os.waitstatus_to_exitcode(status)
    print(json.dumps(scenario(kind)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
