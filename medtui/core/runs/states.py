"""How a run ended, in words a user can act on: the one place that turns an exit status into a state.

States (``run.json`` ``status``):

- ``pending``: a Slurm job waiting in the queue;
- ``running``;
- ``succeeded``: exit code 0 without a stop request;
- ``stopped``: a graceful stop (``medtui stop``) that the trainer honoured; ``saved`` says what it
  left (the final model, checkpoints) or that nothing was saved yet;
- ``killed``: a hard stop (``medtui stop --kill``, or a graceful stop that had to escalate);
  nothing is saved after the last checkpoint;
- ``failed``: the exit code and the error line from stderr (never a progress bar), or the signal
  that ended it (``killed by SIGKILL``: the out-of-memory killer, say); a run whose supervisor
  died without recording an end reads ``failed`` with "supervisor vanished".

The supervisor (:mod:`medtui.core.runs.supervisor`) records these; readers only derive ``failed``
(or the requested stop) when the supervisor is gone. Plain Python, no imports beyond the stdlib.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

STATUSES = ("pending", "running", "succeeded", "failed", "stopped", "killed")
#: Not finished yet: running, or (a Slurm job) waiting in the queue.
ACTIVE = ("pending", "running")
FINAL = ("succeeded", "failed", "stopped", "killed")
STOP_MARKER = "stop_requested"
#: A pipeline run's own progress file, written by :mod:`medtui.core.lifecycle.chain`.
PIPELINE_STATE = "pipeline.json"
VANISHED = "supervisor vanished"
#: Files a training run's final save leaves in its output folder.
MODEL_FILES = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin",
               "model.safetensors.index.json", "pytorch_model.bin.index.json")
_HINTS = {
    "SIGKILL": "the out-of-memory killer, or another program, ended it",
    "SIGSEGV": "a crash in native code (CUDA, a driver, a C extension)",
    "SIGBUS": "a crash reading memory (a full /dev/shm, a vanished file)",
    "SIGABRT": "the process aborted",
    "SIGTERM": "someone asked it to terminate",
    "SIGXFSZ": "a file grew past the size limit",
}
#: A tqdm/progress line: "45%|████▌ | 9/20 [00:03<00:04, 2.6it/s]" and friends.
_PROGRESS = re.compile(r"(\d+%\|)|(\|\s*\d+/\d+\s*\[)|(\d+(\.\d+)?\s*(it|s)/(s|it)\])")


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def request_stop(run_dir: Path, mode: str) -> None:
    """Record that the user asked the run to stop, ``graceful`` or ``kill`` (before any signal is sent)."""
    from medtui.core.atomic import atomic_write_text

    atomic_write_text(run_dir / STOP_MARKER, json.dumps({"mode": mode, "at": time.time()}) + "\n")


def stop_mode(run_dir: Path) -> str | None:
    """``graceful``, ``kill`` or None (no stop requested); an old marker (a bare time) is graceful."""
    try:
        text = (run_dir / STOP_MARKER).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return "graceful"
    mode = data.get("mode") if isinstance(data, dict) else None
    return mode if mode in ("graceful", "kill") else "graceful"


def is_progress_line(line: str) -> bool:
    return bool(_PROGRESS.search(line))


def error_line(path: Path, max_bytes: int = 65536) -> str:
    """The most telling line near the end of a log: the last ``...Error: ...`` (or Exception) line, else
    the last line that is not a progress bar; empty when there is none."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", tail) if ln.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Interrupt")) and " " not in head.strip():
            return line[:400]
    for line in reversed(lines):
        if not is_progress_line(line) and not line.startswith(("[rank", "warnings.warn", "File \"")):
            return line[:400]
    return ""


def failure_reason(code: int, stderr: Path) -> str:
    """``killed by SIGKILL (…)`` for a signal, else ``exit code N: <error line>``."""
    if code < 0:
        name = signal_name(-code)
        hint = _HINTS.get(name)
        return f"killed by {name}" + (f" ({hint})" if hint else "")
    line = error_line(stderr)
    shell_signal = f" (128+{signal_name(code - 128)})" if 128 < code < 128 + 65 else ""
    return f"exit code {code}{shell_signal}" + (f": {line}" if line else "")


def saved_note(kind: str, output_dir: Path, started: float | None) -> str:
    """What a gracefully stopped run left in ``output_dir``: the final model and checkpoints written since
    it started, or that nothing was saved yet."""
    if kind == "pipeline":
        return pipeline_note(output_dir) or "stopped"
    if kind == "predict":
        return "nothing saved (predictions are written when the run finishes)"
    if kind == "export":
        return "nothing usable saved (the export folder may be incomplete)"
    since = (started or 0) - 1
    parts: list[str] = []
    try:
        model = [n for n in MODEL_FILES if _newer(output_dir / n, since)]
        checkpoints = sorted((p for p in output_dir.glob("checkpoint-*") if p.is_dir() and _newer(p, since)),
                             key=lambda p: _step(p.name))
    except OSError:
        model, checkpoints = [], []
    if model:
        step = _final_step(output_dir)
        parts.append("the model" + (f" at step {step}" if step is not None else "") + f" in {output_dir}")
    if checkpoints:
        names = [p.name for p in checkpoints]
        parts.append(("checkpoints " if len(names) > 1 else "") + ", ".join(names[-3:])
                     + (f" (and {len(names) - 3} earlier)" if len(names) > 3 else ""))
    return "saved " + " and ".join(parts) if parts else "nothing saved yet"


def _newer(path: Path, since: float) -> bool:
    try:
        return path.stat().st_mtime >= since
    except OSError:
        return False


def _step(name: str) -> int:
    try:
        return int(name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def _final_step(output_dir: Path) -> int | None:
    try:
        state = json.loads((output_dir / "trainer_state.json").read_text(encoding="utf-8"))
        step = state.get("global_step")
        return step if isinstance(step, int) else None
    except (OSError, ValueError, AttributeError):
        return None


def pipeline_note(run_dir: Path) -> str:
    """One line on where a pipeline run got to, from its ``pipeline.json``: the stage that failed and why,
    or how far it got and how to resume it; empty when the file is missing."""
    try:
        state = json.loads((run_dir / PIPELINE_STATE).read_text(encoding="utf-8"))
        stages = [s for s in state["stages"] if isinstance(s, dict)]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    done = [s for s in stages if s.get("status") in ("succeeded", "skipped")]
    bad = next((s for s in stages if s.get("status") in ("failed", "killed")), None)
    if bad is not None:
        return f"stage {bad.get('name')} {bad.get('status')}: {bad.get('reason') or 'no reason recorded'}"
    where = f"after stage {done[-1].get('name')}" if done else "before its first stage finished"
    return (f"stopped {where} ({len(done)} of {len(stages)} stages done); resume with: medtui pipeline "
            f"{state.get('ref') or '…'} --resume")


def requested_end(mode: str, *, kind: str, output_dir: Path, started: float | None) -> dict[str, Any]:
    """The record fields of a run that ended as the user asked: ``killed`` (mode ``kill``) or ``stopped``
    with what it saved (``graceful``). Local runs (:func:`final_state`) and Slurm jobs share it."""
    if mode == "kill":
        return {"status": "killed", "error": "killed on request (medtui stop --kill); nothing saved since "
                                             "the last checkpoint"}
    return {"status": "stopped", "saved": saved_note(kind, output_dir, started)}


def final_state(code: int, mode: str | None, *, kind: str, output_dir: Path, started: float | None,
                stderr: Path) -> dict[str, Any]:
    """The record fields for a run whose trainer ended with ``code`` (negative: killed by that signal)."""
    out: dict[str, Any] = {"exit_code": code if code >= 0 else None,
                           "signal": signal_name(-code) if code < 0 else None}
    if kind == "pipeline":
        return {**out, **_pipeline_end(code, mode, output_dir, stderr)}
    if mode == "kill":
        return {**out, **requested_end(mode, kind=kind, output_dir=output_dir, started=started)}
    if mode == "graceful":
        if code == 0 or code == -signal.SIGABRT:
            return {**out, **requested_end(mode, kind=kind, output_dir=output_dir, started=started)}
        if code < 0:
            return {**out, "status": "killed", "error": f"did not stop gracefully in time; ended by "
                                                        f"{signal_name(-code)}; nothing saved since the last "
                                                        f"checkpoint"}
        return {**out, "status": "failed", "error": "failed while stopping: " + failure_reason(code, stderr)}
    if code == 0:
        return {**out, "status": "succeeded"}
    return {**out, "status": "failed", "error": failure_reason(code, stderr)}


def _pipeline_end(code: int, mode: str | None, run_dir: Path, stderr: Path) -> dict[str, Any]:
    note = pipeline_note(run_dir)
    if mode == "kill":
        return {"status": "killed", "error": "killed on request, with its running stage"}
    if code == 0:
        return {"status": "stopped", "saved": note} if mode == "graceful" else {"status": "succeeded"}
    if mode == "graceful" and code < 0:
        return {"status": "killed", "error": f"ended by {signal_name(-code)} while stopping"}
    return {"status": "failed", "error": note if note.startswith("stage ") else failure_reason(code, stderr)}
