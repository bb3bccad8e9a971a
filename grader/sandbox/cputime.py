"""CPU time used by a sandbox child and everything it started, read from outside.

Time limits count this, not the wall clock: on a busy machine a correct probe waits
for a core, but the CPU it uses does not grow. It is read with psutil (Linux, macOS,
Windows), never reported by the child, whose code is the student's.
"""

from __future__ import annotations

import psutil


class TreeCPU:
    """``seconds()``: user + system time of a process and its live descendants, including
    children they have reaped. A descendant that exits unreaped takes its time with it, so
    the reading is held at its highest value and only grows."""

    def __init__(self, pid: int):
        self.root: psutil.Process | None = None
        self.pid = pid
        self.tree: list[psutil.Process] = []
        self.highest = 0.0

    def seconds(self, refresh: bool = True) -> float:
        """``refresh=False`` reads only the processes found last time: one small read each,
        where finding them reads every process on the machine."""
        try:
            self.root = self.root or psutil.Process(self.pid)
            if refresh or not self.tree:
                self.tree = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:  # it is gone: what it used is what we last saw
            return self.highest
        total = 0.0
        for process in self.tree:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system + times.children_user + times.children_system
        self.highest = max(self.highest, total)
        return self.highest

    def runnable(self) -> bool:
        """Whether some process of the tree (as found last time) is running or waiting for a core:
        a starved child is runnable, a child that sleeps or waits for input is not."""
        for process in self.tree:
            try:
                if process.status() == psutil.STATUS_RUNNING:
                    return True
            except psutil.Error:
                continue
        return False
