"""Slurm's commands, run with argv lists and a timeout, and their output parsed.

``submit`` (sbatch), ``show_job`` (scontrol show job: pending, running and recently ended jobs),
``accounting_job`` (sacct, when accounting is on), ``cancel`` (scancel) and ``partitions``
(sinfo). A command that is missing, times out or cannot reach the controller raises
:class:`SlurmUnavailable`; a refusal (bad partition, bad option) raises :class:`SlurmError`
with Slurm's own message.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from medtui.core.errors import MedtuiError

TIMEOUT = 20.0
_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=")


class SlurmError(MedtuiError):
    """Slurm refused a request; the message is Slurm's."""


class SlurmUnavailable(SlurmError):
    """A Slurm command is missing, did not answer in time or cannot reach the controller."""


def missing_command(name: str = "sbatch") -> str | None:
    """Why ``name`` cannot run (not on PATH), or None."""
    if shutil.which(name) is None:
        return f"{name} is not on PATH (Slurm's client commands are needed to use a cluster)"
    return None


def _run(argv: list[str], *, timeout: float = TIMEOUT, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SlurmUnavailable(missing_command(argv[0]) or f"{argv[0]} cannot be run") from None
    except subprocess.TimeoutExpired:
        raise SlurmUnavailable(f"{argv[0]} did not answer within {timeout:.0f}s (is slurmctld up?)") from None


def _message(proc: subprocess.CompletedProcess) -> str:
    """Slurm's most telling error line, without the ``sbatch: error:`` prefix."""
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
    if not lines:
        return f"exit code {proc.returncode}"
    # sbatch prints the specific reason first and "Batch job submission failed: ..." last; keep both.
    cleaned = [re.sub(r"^\w+: error: ", "", ln) for ln in lines]
    return "; ".join(dict.fromkeys(cleaned))


def _unreachable(text: str) -> bool:
    low = text.lower()
    return any(s in low for s in ("unable to contact slurm controller", "connection refused", "connect failure",
                                  "socket timed out", "communication connection failure", "zero bytes were transmitted"))


def submit(script: Path, *, cwd: str | Path | None = None) -> str:
    """``sbatch --parsable SCRIPT``; the job id. Raises SlurmError with Slurm's reason when refused."""
    proc = _run(["sbatch", "--parsable", str(script)], cwd=cwd)
    if proc.returncode != 0:
        msg = _message(proc)
        if _unreachable(msg):
            raise SlurmUnavailable(f"sbatch could not reach the Slurm controller: {msg}")
        raise SlurmError(f"Slurm refused the job: {msg}")
    job_id = proc.stdout.strip().split(";", 1)[0]
    if not job_id.isdigit():
        raise SlurmError(f"sbatch answered {proc.stdout.strip()!r} instead of a job id")
    return job_id


def parse_time(value: str | None) -> float | None:
    """A Slurm timestamp (``2026-11-28T22:33:37``, local time) as epoch seconds; ``Unknown`` and the like: None."""
    if not value or value in ("Unknown", "None", "N/A", "(null)"):
        return None
    try:
        return time.mktime(time.strptime(value, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


@dataclass
class JobInfo:
    """What Slurm says about a job."""

    job_id: str
    state: str  # RUNNING, PENDING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
    reason: str = ""  # Resources, Priority, BeginTime, JobHeldUser, NonZeroExitCode, ...
    exit_code: int | None = None
    signal: int | None = None
    start_time: float | None = None  # the expected start while PENDING, when Slurm has one
    end_time: float | None = None
    nodes: str = ""  # NodeList
    num_nodes: int | None = None
    num_tasks: int | None = None
    partition: str = ""
    source: str = "scontrol"
    raw: dict[str, str] = field(default_factory=dict)


def parse_fields(line: str) -> dict[str, str]:
    """``Key=Value Key2=Value with spaces ...`` (``scontrol -o`` output) as a dict."""
    matches = list(_KEY.finditer(line))
    out: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
        out.setdefault(m.group(1), line[m.end():end].strip())
    return out


def _exit(value: str) -> tuple[int | None, int | None]:
    code, _, sig = (value or "").partition(":")
    try:
        return int(code), int(sig or 0)
    except ValueError:
        return None, None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def job_from_scontrol(line: str) -> JobInfo:
    f = parse_fields(line)
    code, sig = _exit(f.get("ExitCode", ""))
    nodes = f.get("NodeList", "")
    return JobInfo(
        job_id=f.get("JobId", ""), state=f.get("JobState", "UNKNOWN").split()[0], reason=f.get("Reason", ""),
        exit_code=code, signal=sig, start_time=parse_time(f.get("StartTime")), end_time=parse_time(f.get("EndTime")),
        nodes="" if nodes in ("(null)", "None") else nodes, num_nodes=_int_or_none(f.get("NumNodes")),
        num_tasks=_int_or_none(f.get("NumTasks")), partition=f.get("Partition", ""), raw=f,
    )


def show_job(job_id: str) -> JobInfo | None:
    """``scontrol show job -o ID``; None when Slurm no longer knows the job (it forgets after MinJobAge)."""
    proc = _run(["scontrol", "show", "job", "-o", str(job_id)])
    text = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0 or not proc.stdout.strip():
        if "invalid job id" in text.lower():
            return None
        raise SlurmUnavailable(f"scontrol show job {job_id}: {_message(proc)}")
    return job_from_scontrol(proc.stdout.strip().splitlines()[0])


def accounting_job(job_id: str) -> JobInfo | None:
    """The job from Slurm's accounting (``sacct``), or None when accounting is off or has no record."""
    if shutil.which("sacct") is None:
        return None
    proc = _run(["sacct", "-j", str(job_id), "-X", "-n", "-P", "-o", "JobID,State,ExitCode,Start,End,NodeList,Partition"])
    if proc.returncode != 0:
        return None  # "Slurm accounting storage is disabled", or no database
    for line in proc.stdout.splitlines():
        parts = line.split("|")
        if len(parts) >= 7 and parts[0] == str(job_id):
            code, sig = _exit(parts[2])
            state = parts[1].split()[0] if parts[1] else "UNKNOWN"
            return JobInfo(job_id=parts[0], state=state, exit_code=code, signal=sig, start_time=parse_time(parts[3]),
                           end_time=parse_time(parts[4]), nodes=parts[5], partition=parts[6], source="sacct")
    return None


def cancel(job_id: str, signal: str | None = None) -> None:
    """``scancel [--signal=SIG] ID``. With a signal, it goes to every process of the job's steps (the
    trainer included), not to the batch shell; without one, Slurm ends the job (SIGTERM, then SIGKILL)."""
    argv = ["scancel"] + ([f"--signal={signal}"] if signal else []) + [str(job_id)]
    proc = _run(argv)
    if proc.returncode != 0:
        msg = _message(proc)
        if "already completing or completed" in msg or "invalid job id" in msg.lower():
            return
        raise (SlurmUnavailable if _unreachable(msg) else SlurmError)(f"scancel {job_id}: {msg}")


@dataclass
class Partition:
    name: str
    default: bool = False
    available: bool = True
    nodes: int = 0
    gpus_per_node: int = 0  # the most GPUs (gres gpu) any of its nodes has
    cpus_per_node: int = 0


def _gpus(gres: str) -> int:
    """GPUs in a gres string such as ``gpu:a100:8(S:0-1),shard:4`` (0 for ``(null)``)."""
    total = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts and parts[0] == "gpu":
            total += _int_or_none(parts[-1]) or (1 if len(parts) == 1 else 0)
    return total


def partitions() -> dict[str, Partition]:
    """Every partition ``sinfo`` knows, by name."""
    proc = _run(["sinfo", "-h", "-o", "%P|%a|%D|%G|%c"])
    if proc.returncode != 0:
        raise SlurmUnavailable(f"sinfo: {_message(proc)}")
    out: dict[str, Partition] = {}
    for line in proc.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 5 or not parts[0]:
            continue
        name = parts[0].rstrip("*")
        part = out.setdefault(name, Partition(name))
        part.default = part.default or parts[0].endswith("*")
        part.available = parts[1].strip().lower() == "up"
        part.nodes += _int_or_none(parts[2]) or 0
        part.gpus_per_node = max(part.gpus_per_node, _gpus(parts[3]))
        part.cpus_per_node = max(part.cpus_per_node, _int_or_none(parts[4].rstrip("+")) or 0)
    return out
