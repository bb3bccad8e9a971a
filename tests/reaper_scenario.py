"""One of the reaper's scenarios (tests/test_sandbox_layers.py), run in a process of its own:
``python reaper_scenario.py KIND [privless]`` prints, as JSON, where the escaped process was
and what outlived each ``kill_tree``; ``privless``: the grader itself has no_new_privs (as
in a container started with it). ``python reaper_scenario.py reap`` tries ``_reap`` alone.

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

The escaped process ignores every signal it can, as hostile code would, and has a child of
its own with nothing in its environment, which goes with it whatever found it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil

from grader.sandbox import reaper

KINDS = ("descendant", "orphan", "privless-orphan", "group-orphan")
PR_SET_NO_NEW_PRIVS = 38

# Ignores what it can, sets no_new_privs if asked, starts its own child (environment wiped),
# writes both pids to the fd in argv[1] once that child runs, sleeps.
ESCAPED = """
import ctypes, os, signal, sys, time
for number in signal.valid_signals():
    try:
        signal.signal(number, signal.SIG_IGN)
    except (OSError, ValueError):  # SIGKILL, SIGSTOP
        pass
if sys.argv[2] == "privless":
    ctypes.CDLL(None).prctl(%d, 1, 0, 0, 0)
read, write = os.pipe()
os.set_inheritable(write, True)
child = os.fork()
if child == 0:  # ignored signals and no_new_privs survive exec
    os.execve(sys.executable, [sys.executable, "-c", "import os, sys, time; os.write(int(sys.argv[1]), b'.'); time.sleep(600)",
                               str(write)], {})
os.read(read, 1)
os.write(int(sys.argv[1]), f"{os.getpid()} {child}\\n".encode())
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
pids = os.read(read, 64).decode().strip()
if kind != "descendant":
    os.wait()  # the middle process is gone: the escaped one's parent is now the grader
print(pids, flush=True)
os.read(read, 1)  # sleeps until killed
"""

SANDBOXED = {**os.environ, "GRADER_SANDBOX": "1"}
SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def outliving(*pids: int) -> set[int]:
    """Those of ``pids`` still running once a kill has had time to land: a killed process may
    take a moment to end on a busy machine. Only a broken reaper's test waits out the minute."""
    for _ in range(6000):
        alive = {pid for pid in pids if running(pid)}
        if not alive:
            break
        time.sleep(0.01)
    return alive


def our_zombie(pid: int) -> bool:
    try:
        process = psutil.Process(pid)
        return process.ppid() == os.getpid() and process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def no_new_privs() -> None:
    import ctypes

    ctypes.CDLL(None).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def scenario(kind: str, privless: bool) -> dict:
    if privless:
        no_new_privs()  # and every process started below inherits it
    reaper.become_subreaper()
    bystander = subprocess.Popen(SLEEP)
    busy = subprocess.Popen(SLEEP, start_new_session=True, env=SANDBOXED)
    reaper.track(busy.pid)
    child = subprocess.Popen([sys.executable, "-c", SPAWNER, kind, ESCAPED], stdout=subprocess.PIPE, text=True,
                             start_new_session=True, env=SANDBOXED)  # fmt: skip
    escaped, its_child = map(int, child.stdout.readline().split())
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
        alive = outliving(escaped, its_child)
        report["after the child"] = {
            "child reaped": child.returncode is not None,
            "escaped running": escaped in alive,
            "its child running": its_child in alive,
            "escaped our zombie": our_zombie(escaped),
            "busy running": running(busy.pid),  # read after those killed have ended: one killed wrongly would have too
            "bystander running": running(bystander.pid),
        }
        reaper.kill_tree(busy)
        reaper.kill_tree(bystander)  # a child in no session of its own: no group to signal
        report["after all"] = {"busy reaped": busy.returncode is not None, "busy forgotten": busy.pid not in reaper._live,
                               "bystander reaped": bystander.returncode is not None}
        return report
    finally:  # outside a pid namespace nothing else would end them
        for pid in (escaped, its_child, child.pid, busy.pid, bystander.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def reaping() -> dict:
    """``_reap`` given long patience returns once nothing it was given is left to reap (a
    zombie of ours reaped, a pid that is not our child passed over); given little, it
    returns with a running child still running: it reaps, never kills."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, ended.pid, os.WEXITED | os.WNOWAIT)  # a zombie now, left to be reaped
    reaper._reap({ended.pid, os.getppid()}, patience=3600)  # a stop for a broken reaper is the test's own timeout
    sleeper = subprocess.Popen(SLEEP)
    try:
        reaper._reap({sleeper.pid}, patience=0.1)
        return {"zombie reaped": not psutil.pid_exists(ended.pid), "running child left running": running(sleeper.pid)}
    finally:
        sleeper.kill()
        sleeper.wait()


def main(args: list[str]) -> int:
    if not (args == ["reap"] or args[:1] and args[0] in KINDS and args[1:] in ([], ["privless"])):
        raise SystemExit(f"usage: reaper_scenario.py {'|'.join(KINDS)} [privless], or reaper_scenario.py reap")
    if os.getpid() == 1:  # the first process of a new pid namespace: orphans come to it anyway, so
        worker = os.fork()  # the scenario runs in a child, which only the reaper can make their parent
        if worker == 0:
            os._exit(main(args))
        _, status = os.waitpid(worker, 0)
        return os.waitstatus_to_exitcode(status)
    report = reaping() if args == ["reap"] else scenario(args[0], privless=args[1:] == ["privless"])
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
