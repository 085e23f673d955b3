"""A stage's starting config for the Train form: lifecycle wiring plus sensible suggestions.

Model inputs come from :func:`medtui.core.lifecycle.wiring.wire` (PT → SFT → RM/DPO/KTO/PPO → export).
On the demo workspace the demo pipeline's stage settings are used (they fit a CPU); elsewhere the
dataset and template of the stage's previous run carry over. The output folder suggested is one
that does not hold a finished model yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medtui.core.demo import is_demo_workspace
from medtui.core.lifecycle.pipeline import load_pipeline
from medtui.core.lifecycle.wiring import latest_outputs, wire
from medtui.core.runs.records import Run, list_runs
from medtui.core.workspace import Workspace

#: Keys that wiring or the output suggestion decide; never copied from elsewhere.
WIRED_KEYS = ("model_name_or_path", "adapter_name_or_path", "create_new_adapter", "reward_model",
              "reward_model_type", "output_dir", "export_dir")
CARRIED_KEYS = ("dataset", "template", "finetuning_type")


def _demo_stage_config(ws: Workspace, stage: str) -> dict[str, Any] | None:
    if not is_demo_workspace(ws.root):
        return None
    for item in load_pipeline("demo").stages:
        if item.stage == stage:
            return {k: v for k, v in item.config.items() if k not in WIRED_KEYS}
    return None


def _finished(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def suggest_folder(ws: Workspace, parts: list[str]) -> str:
    """``saves/<parts...>``, numbered when that folder already has content (relative to the workspace)."""
    base = ws.saves_dir.joinpath(*parts)
    candidate, n = base, 2
    while _finished(candidate):
        candidate = base.with_name(f"{base.name}-{n}")
        n += 1
    return ws.relative(candidate)


def prefill(ws: Workspace, stage: str, runs: list[Run] | None = None, *,
            export_from: str | None = None) -> dict[str, Any]:
    """The config the Train form opens with for ``stage``; ``export_from`` names the branch an export
    merges (ppo, dpo, kto...), else the first of them that succeeded."""
    runs = list_runs(ws.runs_dir) if runs is None else runs
    config = _demo_stage_config(ws, stage)
    if config is None:
        config = {}
        previous = next((r for r in runs if r.stage == stage and r.kind in ("train", "export")
                         and r.record.get("config")), None)
        if previous is not None:
            old = previous.record["config"]
            config = {k: old[k] for k in CARRIED_KEYS if old.get(k) is not None}
    if stage != "export":
        config["stage"] = stage
    config.setdefault("finetuning_type", "lora")
    produced = latest_outputs(runs)
    if stage == "export" and export_from in produced:
        for key in ("model_name_or_path", "adapter_name_or_path", "finetuning_type"):
            config.pop(key, None)  # the chosen branch decides the model, not the previous export's config
    config = wire(stage, config, produced, export_from=export_from if export_from in produced else None)
    if not config.get("model_name_or_path"):
        models = [p for p in ws.model_dirs() if ws.models_dir in p.parents]
        if models:
            config["model_name_or_path"] = ws.relative(models[0])
    name = Path(str(config.get("model_name_or_path") or "model")).name
    if stage == "export":
        branch = f"export-{export_from}" if export_from in produced else "export"
        config.setdefault("export_dir", suggest_folder(ws, [name, branch]))
    else:
        config.setdefault("output_dir", suggest_folder(ws, [name, config["finetuning_type"], stage]))
    return config


def retarget_output(output_dir: str | None, old_method: str, new_method: str) -> str | None:
    """The output folder suggestion after the method changes: a ``…/full/…`` part becomes ``…/lora/…``.

    Only a folder that names the old method as one of its parts (as :func:`prefill` and LlamaBoard
    suggest them: ``saves/<model>/<method>/<stage>``) changes; None means keep what is there.
    """
    if not output_dir or old_method == new_method:
        return None
    parts = list(Path(output_dir).parts)
    for i in range(len(parts) - 2, -1, -1):  # the last part is the run's own name
        if parts[i] == old_method:
            parts[i] = new_method
            return str(Path(*parts))
    return None
