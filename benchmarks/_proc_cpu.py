"""CPU seconds of a Spark client, by process group, read from ``/proc`` (standard library
only: it also runs inside ``.venv-reference``, which has no psutil).

A PySpark application is three kinds of process: the driver (Python), Spark's JVM (a child
of the driver, named ``java``), and the Python workers (descendants of the JVM: the
``pyspark.daemon`` and the workers it forks). Each group is snapshotted before and after
a run; the difference is what the run cost. A worker that exits during the run is not
lost: its parent reaps it, and the kernel adds its time to the parent's ``cutime`` and
``cstime``, which are counted for the workers group (and only there: the driver's reaped
children are other programs, such as servers or another benchmark's process).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    name: str
    own_seconds: float  # utime + stime: every thread of the process, alive or exited
    reaped_children_seconds: float  # cutime + cstime: children it has waited for


def read_stat(pid: int) -> ProcStat | None:
    """``/proc/PID/stat`` parsed; ``None`` if the process has gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    # The name is in parentheses and may itself hold spaces or parentheses.
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        name=name,
        own_seconds=(utime + stime) / _TICKS_PER_SECOND,
        reaped_children_seconds=(cutime + cstime) / _TICKS_PER_SECOND,
    )


def all_processes() -> dict[int, ProcStat]:
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := read_stat(int(entry))) is not None:
            stats[stat.pid] = stat
    return stats


def descendants(root: int, stats: dict[int, ProcStat]) -> list[ProcStat]:
    """Every live process below ``root`` (not ``root`` itself)."""
    children: dict[int, list[ProcStat]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat)
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child.pid)
    return found


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode("utf-8", "replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return []


def spark_client_cpu(driver_pid: int | None = None) -> dict[str, float]:
    """CPU seconds so far of one PySpark application: ``driver`` (its own threads only),
    ``jvm`` (the driver's ``java`` children) and ``workers`` (everything below the JVM,
    with the workers already reaped)."""
    driver_pid = driver_pid or os.getpid()
    stats = all_processes()
    jvms = [s for s in stats.values() if s.ppid == driver_pid and s.name == "java"]
    workers = [w for jvm in jvms for w in descendants(jvm.pid, stats)]
    return {
        "driver": stats[driver_pid].own_seconds,
        "jvm": sum(s.own_seconds for s in jvms),
        "workers": sum(s.own_seconds + s.reaped_children_seconds for s in workers),
    }


def process_tree_cpu(pid: int) -> float:
    """CPU seconds so far of ``pid`` and everything below it (e.g. a server)."""
    stats = all_processes()
    if pid not in stats:
        return 0.0
    tree = [stats[pid], *descendants(pid, stats)]
    return sum(s.own_seconds + s.reaped_children_seconds for s in tree)


def difference(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before.get(key, 0.0) for key in after}
