"""Measure one command: wall time, CPU time of the whole process tree, peak RSS of the whole tree, server CPU.

- CPU: os.wait4 on the child returns its rusage including every descendant it (and they) waited for: user + sys
  of the whole tree. PostgreSQL backends are children of the postmaster, not of the tree: their CPU is measured
  apart (``server_cpu``), as the delta of the postmaster's own + reaped children's + live children's times.
- Peak memory: a sampler thread walks the tree every ``interval`` seconds through /proc/<pid>/task/*/children (a
  child started from another thread, like the engine's pg_dump, hangs under that thread) and sums the resident
  set of every process; the maximum sum is reported. Shared pages count once per process (plain RSS, not PSS).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                out.extend(int(x) for x in handle.read().split())
        except OSError:
            continue
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> tuple[int, int]:
    """(sum of RSS in bytes, number of processes) of root and all its descendants."""
    total = count = 0
    stack = [root]
    seen = set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        rss = _rss(pid)
        if rss:
            total += rss
            count += 1
        stack.extend(_children(pid))
    return total, count


def _stat_times(pid: int, with_children: bool) -> int:
    """utime+stime (+cutime+cstime) of a process, in clock ticks; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    # after the comm field: state is fields[0]; utime, stime, cutime, cstime are fields 14..17 of stat
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def server_ticks(postmaster: Optional[int]) -> int:
    """CPU ticks consumed so far by a PostgreSQL cluster: the postmaster, its reaped children, its live children."""
    if not postmaster:
        return 0
    return _stat_times(postmaster, True) + sum(_stat_times(p, False) for p in _children(postmaster))


@dataclass
class Measurement:
    wall: float
    cpu: float  # user + sys of the whole process tree
    user: float
    sys: float
    peak_rss: int  # bytes, max over samples of the tree's summed RSS
    peak_procs: int
    samples: int
    server_cpu: float  # seconds of PostgreSQL server CPU (all backends) during the run
    returncode: int
    stdout: str = ""
    stderr: str = ""
    extra: dict = field(default_factory=dict)


def run(argv, env=None, cwd=None, interval=0.05, postmaster=None, stdout_path=None) -> Measurement:
    """Run argv to completion and measure it. stdout goes to stdout_path when given, else it is captured."""
    out_handle = open(stdout_path, "wb") if stdout_path else subprocess.PIPE
    srv_before = server_ticks(postmaster)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out_handle, stderr=subprocess.PIPE)
    finally:
        if stdout_path:
            out_handle.close()
    peak = [0, 0, 0]  # bytes, processes, samples
    stop = threading.Event()

    def sample():
        while True:
            total, count = tree_rss(proc.pid)
            if total > peak[0]:
                peak[0], peak[1] = total, count
            peak[2] += 1
            if stop.wait(interval):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    chunks = {"out": b"", "err": b""}

    def drain(stream, key):
        chunks[key] = stream.read()

    readers = [threading.Thread(target=drain, args=(proc.stderr, "err"), daemon=True)]
    if proc.stdout is not None:
        readers.append(threading.Thread(target=drain, args=(proc.stdout, "out"), daemon=True))
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    sampler.join()
    for reader in readers:
        reader.join()
    srv_after = server_ticks(postmaster)
    return Measurement(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        user=usage.ru_utime,
        sys=usage.ru_stime,
        peak_rss=peak[0],
        peak_procs=peak[1],
        samples=peak[2],
        server_cpu=(srv_after - srv_before) / TICK,
        returncode=proc.returncode,
        stdout=chunks["out"].decode("utf-8", "replace"),
        stderr=chunks["err"].decode("utf-8", "replace"),
    )
