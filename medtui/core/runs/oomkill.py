"""Did the kernel's OOM killer end a run? Evidence from the kernel log and the OOM-kill counters.

The supervisor reads :func:`counters` when the run starts and passes them to :func:`evidence` when
the trainer died of SIGKILL. Two sources:

* the kernel log (``dmesg``): "Killed process PID (name)" or "oom-kill:...,pid=PID" naming one of
  the run's processes - precise;
* when the kernel log cannot be read (``kernel.dmesg_restrict``, containers): the memory cgroup the
  run lives in counted an OOM kill during the run (``oom_kill`` in ``memory.events`` for cgroup v2,
  ``memory.oom_control`` for v1). A job scheduler gives each job its own cgroup, so this names the
  run's own kills; on a shared cgroup it only makes the OOM killer likely, as the message says.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
_KILLED = re.compile(r"Killed process (\d+) \(([^)]*)\)|oom-kill:.*?task=([^,]*),pid=(\d+)")


def _oom_kill_value(path: Path) -> int | None:
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def cgroup_files(pid: int | str = "self") -> list[Path]:
    """The files that count OOM kills for the memory cgroup holding ``pid`` (v1 and v2 layouts)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if "memory" in controllers.split(","):
            out.append(CGROUP_ROOT / "memory" / rel / "memory.oom_control")
        elif controllers == "":
            out += [CGROUP_ROOT / rel / "memory.events", CGROUP_ROOT / "unified" / rel / "memory.events"]
    return [p for p in out if p.exists()]


def counters(pid: int | str = "self") -> dict[str, int]:
    """Current OOM-kill counts of each memory cgroup file of ``pid``."""
    out: dict[str, int] = {}
    for path in cgroup_files(pid):
        value = _oom_kill_value(path)
        if value is not None:
            out[str(path)] = value
    return out


def kernel_log_kills(pids: set[int], since_boot_s: float = 0.0) -> list[str] | None:
    """Kernel log lines (``dmesg``) that report an OOM kill of one of ``pids`` after ``since_boot_s``;
    None when the kernel log cannot be read."""
    try:
        proc = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    found = []
    for line in proc.stdout.splitlines():
        m = _KILLED.search(line)
        if not m:
            continue
        pid = int(m.group(1) or m.group(4))
        stamp = re.match(r"\[\s*(\d+\.\d+)\]", line)
        if pid in pids and (stamp is None or float(stamp.group(1)) >= since_boot_s):
            found.append(f"kernel log: {line.strip()}")
    return found


def evidence(before: dict[str, int], pids: set[int], since_boot_s: float = 0.0) -> list[str]:
    """Why the OOM killer is the likely culprit, or [] when nothing says so."""
    logged = kernel_log_kills(pids, since_boot_s)
    if logged is not None:
        return logged
    out = []
    after = counters()
    for key, old in before.items():
        new = after.get(key)
        if new is not None and new > old:
            out.append(f"the run's memory cgroup counted {new - old} OOM kill(s) during the run ({key})")
    return out


def uptime() -> float:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
