"""Lifecycle wiring: each stage's default inputs come from the runs before it.

PT → SFT; SFT → RM, DPO, KTO, PPO; RM → PPO's reward model; export takes base plus adapter
from the run it exports. An output is described by :class:`Produced`, built from a finished
run or from a pipeline stage that just finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medtui.core.runs.records import Run, list_runs

#: Which stage's output feeds a stage's model.
UPSTREAM = {"sft": "pt", "rm": "sft", "dpo": "sft", "kto": "sft", "ppo": "sft"}
#: The lifecycle as the tutorial draws it.
LIFECYCLE = ("pt", "sft", "rm", "ppo", "dpo", "kto", "export")
#: The alignment branches an export can merge, in the order a silent default would pick them.
BRANCHES = ("ppo", "dpo", "kto")


@dataclass(frozen=True)
class Produced:
    """What a finished training run left behind, enough to build on it."""

    stage: str
    output_dir: str
    finetuning_type: str
    model_name_or_path: str | None
    adapter_name_or_path: str | None = None
    template: str | None = None
    run_id: str | None = None  # the run that produced it

    @classmethod
    def from_run(cls, run: Run) -> "Produced":
        cfg = run.record.get("config") or {}
        return cls(stage=run.stage, output_dir=str(run.output_dir),
                   finetuning_type=cfg.get("finetuning_type", "lora"),
                   model_name_or_path=cfg.get("model_name_or_path"),
                   adapter_name_or_path=cfg.get("adapter_name_or_path"),
                   template=cfg.get("template"), run_id=run.id)

    def as_base(self) -> dict[str, Any]:
        """Model inputs for a stage that builds on this output."""
        if self.finetuning_type == "lora":
            adapters = [a for a in (self.adapter_name_or_path or "").split(",") if a] + [self.output_dir]
            out = {"model_name_or_path": self.model_name_or_path, "adapter_name_or_path": ",".join(adapters)}
        else:
            out = {"model_name_or_path": self.output_dir}
        if self.template:
            out["template"] = self.template
        return out


def latest_outputs(runs: list[Run]) -> dict[str, Produced]:
    """The newest succeeded run of each stage (runs come newest first)."""
    found: dict[str, Produced] = {}
    for run in runs:
        if run.stage not in found and run.status == "succeeded" and run.kind == "train":
            found[run.stage] = Produced.from_run(run)
    return found


def wire(stage: str, config: dict[str, Any], produced: dict[str, Produced], *,
         export_from: str | None = None) -> dict[str, Any]:
    """Fill the missing model inputs of ``config`` from earlier outputs; explicit values win."""
    out = dict(config)
    if stage == "export":
        source = produced.get(export_from or "") if export_from else _last_adapter_source(produced)
        if source is not None and not out.get("model_name_or_path"):
            out.update(source.as_base())
            out.setdefault("finetuning_type", source.finetuning_type)
        return out
    upstream = UPSTREAM.get(stage)
    if upstream and upstream in produced and not out.get("model_name_or_path"):
        base = produced[upstream].as_base()
        if out.get("finetuning_type") == "lora" and produced[upstream].finetuning_type == "lora":
            base.setdefault("create_new_adapter", True)
        for key, value in base.items():
            out.setdefault(key, value)
    if stage == "ppo" and "rm" in produced and not out.get("reward_model"):
        out["reward_model"] = produced["rm"].output_dir
        out.setdefault("reward_model_type", "lora" if produced["rm"].finetuning_type == "lora" else "full")
    return out


def sources(stage: str, produced: dict[str, Produced], *, export_from: str | None = None) -> list[Produced]:
    """The earlier outputs :func:`wire` reads for ``stage``: what it builds on, in a fixed order."""
    if stage == "export":
        source = produced.get(export_from or "") if export_from else _last_adapter_source(produced)
        return [source] if source is not None else []
    out = [produced[up] for up in (UPSTREAM.get(stage),) if up in produced]
    if stage == "ppo" and "rm" in produced:
        out.append(produced["rm"])
    return out


def export_choices(produced: dict[str, Produced]) -> list[str]:
    """The alignment branches (ppo, dpo, kto) with a succeeded run to merge; more than one means ask."""
    return [stage for stage in BRANCHES if stage in produced]


def export_branch(config: dict[str, Any], runs: list[Run]) -> str | None:
    """Which stage's output an export merged (the last adapter it names), from the workspace's runs."""
    adapters = [a for a in str(config.get("adapter_name_or_path") or "").split(",") if a]
    target = adapters[-1] if adapters else str(config.get("model_name_or_path") or "")
    if not target:
        return None
    for run in runs:
        if run.kind == "train" and str(run.output_dir) == target:
            return run.stage
    return None


def _last_adapter_source(produced: dict[str, Produced]) -> Produced | None:
    for stage in ("ppo", "dpo", "kto", "sft", "pt"):
        if stage in produced:
            return produced[stage]
    return None


def workspace_outputs(runs_dir) -> dict[str, Produced]:
    return latest_outputs(list_runs(runs_dir))
