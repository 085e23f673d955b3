"""Resume a stopped, killed or failed run (or extend a finished one) from one of its checkpoints.

A resume (started by :func:`medtui.core.stages.launch.resume`) is a new run record in the same output folder, with ``resumed_from`` (the run, the
checkpoint and its step) and ``trainer_log_offset`` (how long ``trainer_log.jsonl`` was when it
started). The trainer appends to that file, so :func:`history_before` gives the Monitor the old
run's records up to the checkpoint, and the new run's records follow: one continuous history.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medtui.core.errors import MedtuiError
from medtui.core.runs.records import Run

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
#: run.json keys a resumed run carries
RESUMED_FROM, LOG_OFFSET = "resumed_from", "trainer_log_offset"
ENV_KEYS = {"CUDA_VISIBLE_DEVICES": "devices", "FORCE_TORCHRUN": "force_torchrun", "NNODES": "nnodes",
            "NODE_RANK": "node_rank", "NPROC_PER_NODE": "nproc_per_node", "MASTER_ADDR": "master_addr",
            "MASTER_PORT": "master_port", "USE_RAY": "use_ray"}
STEP_KEYS = ("num_train_epochs", "max_steps")


class ResumeRefused(MedtuiError):
    """This run cannot be resumed; the message says why."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    loss: float | None
    max_steps: int | None
    mtime: float

    def label(self) -> str:
        loss = f"loss {self.loss:.4f}" if self.loss is not None else "loss ?"
        return f"step {self.step} ({loss})"


def list_checkpoints(output_dir: Path) -> list[Checkpoint]:
    """``checkpoint-N`` folders with their step and last training loss, oldest first."""
    out: list[Checkpoint] = []
    try:
        children = list(Path(output_dir).iterdir())
    except OSError:
        return out
    for child in children:
        m = CHECKPOINT_RE.match(child.name)
        if not m or not child.is_dir():
            continue
        step, loss, max_steps = int(m.group(1)), None, None
        try:
            state = json.loads((child / "trainer_state.json").read_text(encoding="utf-8"))
            step = int(state.get("global_step", step))
            max_steps = state.get("max_steps")
            losses = [h["loss"] for h in state.get("log_history", []) if isinstance(h.get("loss"), (int, float))]
            loss = float(losses[-1]) if losses else None
        except (OSError, ValueError, TypeError, KeyError):
            continue  # a checkpoint without its trainer state cannot be resumed
        out.append(Checkpoint(child, step, loss, max_steps, child.stat().st_mtime))
    out.sort(key=lambda c: c.step)
    return out


def pick_checkpoint(run: Run, which: str | None) -> Checkpoint:
    """``latest`` (default), a step number, or a folder path."""
    found = list_checkpoints(run.output_dir)
    if which in (None, "", "latest"):
        if not found:
            raise ResumeRefused(f"{run.id} saved no checkpoint in {run.output_dir} (save_steps "
                                f"{(run.record.get('config') or {}).get('save_steps', '?')}); nothing to resume from")
        return found[-1]
    if str(which).isdigit():
        for ckpt in found:
            if ckpt.step == int(which):
                return ckpt
        raise ResumeRefused(f"no checkpoint at step {which}; have: {', '.join(str(c.step) for c in found) or 'none'}")
    path = Path(str(which)).expanduser().resolve()
    for ckpt in found + list_checkpoints(path.parent):
        if ckpt.path.resolve() == path:
            return ckpt
    raise ResumeRefused(f"{which} is not a checkpoint folder with a trainer_state.json")


def resume_refusal(run: Run) -> str:
    """Why this run cannot be resumed at all ('' when it can)."""
    if run.is_running:
        return f"{run.id} is still running"
    if run.record.get("kind", "train") != "train":
        return f"{run.id} is a {run.record.get('kind')} run; only training runs resume"
    config = run.record.get("config") or {}
    if run.stage == "ppo":
        return ("PPO cannot resume: medtui's PPO engine runs TRL's PPOTrainer, whose train() takes no "
                "resume_from_checkpoint and restores no optimizer, scheduler or step; start a new PPO run")
    if run.stage == "rm" and config.get("finetuning_type") in ("full", "freeze"):
        return ("llamafactory cannot resume a reward model trained with full or freeze tuning (it drops "
                "resume_from_checkpoint for stage rm); start a new run")
    return ""


def resume_config(run: Run, checkpoint: Checkpoint, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config of the new run: the old run's, continuing from ``checkpoint``, plus ``overrides``."""
    why = resume_refusal(run)
    if why:
        raise ResumeRefused(why)
    overrides = dict(overrides or {})
    config: dict[str, Any] = dict(run.record.get("config") or {})
    if not config:
        raise ResumeRefused(f"{run.id} has no recorded config")
    for env_name, key in ENV_KEYS.items():
        value = (run.record.get("env") or {}).get(env_name)
        if value not in (None, ""):
            config.setdefault(key, value)
    config.update(run.record.get("launch") or {})
    config["stage"] = run.stage
    config["output_dir"] = str(run.output_dir)
    config["resume_from_checkpoint"] = str(checkpoint.path)
    config["overwrite_output_dir"] = False  # True would make llamafactory delete trainer_log.jsonl
    if run.stage == "rm" and config.get("finetuning_type", "lora") == "lora":
        # llamafactory's advice for rm: load the checkpoint's adapter as the one to train on
        adapters = [a for a in str(config.get("adapter_name_or_path") or "").split(",") if a]
        config["adapter_name_or_path"] = ",".join(adapters + [str(checkpoint.path)])
    config.update(overrides)
    if checkpoint.max_steps and checkpoint.step >= checkpoint.max_steps and not any(k in overrides for k in STEP_KEYS):
        raise ResumeRefused(f"{run.id} finished at step {checkpoint.step} of {checkpoint.max_steps}; to train "
                            f"further add epochs or steps, e.g. --set num_train_epochs=N or --set "
                            f"max_steps={checkpoint.max_steps * 2}")
    return config


def log_size(output_dir: Path) -> int:
    try:
        return (Path(output_dir) / "trainer_log.jsonl").stat().st_size
    except OSError:
        return 0


def resume_extra(run: Run, checkpoint: Checkpoint) -> dict[str, Any]:
    """The run.json keys of the resumed run (``resumed_from``, ``trainer_log_offset``)."""
    return {RESUMED_FROM: {"run": run.id, "checkpoint": str(checkpoint.path), "step": checkpoint.step},
            LOG_OFFSET: log_size(run.output_dir)}


def history_before(record: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """For a resumed run: the earlier records of its trainer_log up to the checkpoint, and the byte
    offset where its own records start. ``([], 0)`` for a run that was not resumed."""
    source = record.get(RESUMED_FROM)
    offset = int(record.get(LOG_OFFSET) or 0)
    if not source or not offset:
        return [], 0
    path = Path(record["output_dir"]) / "trainer_log.jsonl"
    try:
        with open(path, "rb") as fh:
            head = fh.read(offset)
    except OSError:
        return [], 0
    step = int(source.get("step") or 0)
    records = []
    for line in head.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            records.append(item)
    return [r for r in continuous(records) if _step(r) <= step], offset


def _step(record: dict[str, Any]) -> int:
    try:
        return int(record.get("current_steps") or 0)
    except (TypeError, ValueError):
        return 0


def continuous(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One history from a log that earlier resumes appended to: when a training record's step is not
    past the last one, a later run restarted from a checkpoint, so the records it redoes are dropped."""
    out: list[dict[str, Any]] = []
    for record in records:
        if "loss" in record:
            step = _step(record)
            while out and (_step(out[-1]) > step or (_step(out[-1]) == step and "loss" in out[-1])):
                out.pop()
        out.append(record)
    return out
