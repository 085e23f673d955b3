"""What to load: a base model, a full checkpoint, or a base plus LoRA adapters.

A reference is a folder (absolute, or relative to the workspace), a run id, or a stage name
(its newest finished run, e.g. ``dpo``): a LoRA run
resolves to its base plus its adapters (:class:`medtui.core.lifecycle.wiring.Produced`), a full run or
an export to its output folder. The template defaults to the one the model was trained with,
else a guess from ``config.json``'s model type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from medtui.core.errors import MedtuiError
from medtui.core.lifecycle.wiring import Produced
from medtui.core.runs.records import RESULT_KINDS, Run, find_run, list_runs
from medtui.core.stages.spec import STAGES
from medtui.core.workspace import Workspace

#: Stages whose output can chat (a reward model scores, it does not generate).
CHAT_STAGES = ("pt", "sft", "dpo", "kto", "ppo", "export")
#: A template guess per ``config.json`` model_type, for models medtui did not train.
TEMPLATE_BY_MODEL_TYPE = {
    "qwen2": "qwen", "qwen2_moe": "qwen", "qwen3": "qwen3", "qwen3_moe": "qwen3", "qwen2_vl": "qwen2_vl",
    "llama": "llama3", "mistral": "mistral", "gemma": "gemma", "gemma2": "gemma", "chatglm": "chatglm3",
    "glm4": "glm4", "baichuan": "baichuan2", "deepseek_v3": "deepseek3", "phi3": "phi", "phi": "phi",
}


@dataclass(frozen=True)
class ModelSource:
    """A loadable model: ``model`` plus ``adapters`` in order, and the suggested template."""

    model: str
    adapters: tuple[str, ...] = ()
    template: str | None = None
    label: str = ""
    run_id: str | None = None

    def key(self) -> str:
        """A stable id for pickers."""
        return self.run_id or "|".join((self.model, *self.adapters))

    def with_adapters(self, adapters: list[str] | tuple[str, ...]) -> "ModelSource":
        extra = tuple(a for a in adapters if a not in self.adapters)
        return ModelSource(self.model, self.adapters + extra, self.template, self.label, self.run_id)


def is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


def is_adapter_dir(path: Path) -> bool:
    return (path / "adapter_config.json").is_file()


def adapter_base(adapter: Path) -> str | None:
    try:
        data = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    base = data.get("base_model_name_or_path") if isinstance(data, dict) else None
    return str(base) if base else None


def _run_for_output(runs: list[Run], folder: Path) -> Run | None:
    target = folder.resolve()
    for run in runs:
        try:
            if run.output_dir.resolve() == target and run.status == "succeeded":
                return run
        except OSError:
            continue
    return None


def from_run(ws: Workspace, run: Run) -> ModelSource:
    """The model a finished run produced."""
    cfg = run.record.get("config") or {}
    label = f"{run.stage} · {ws.relative(run.output_dir)}"
    if run.stage == "export" or run.kind == "export":
        return ModelSource(str(run.output_dir), (), cfg.get("template"), label, run.id)
    base = Produced.from_run(run).as_base()
    adapters = tuple(a for a in str(base.get("adapter_name_or_path") or "").split(",") if a)
    return ModelSource(str(base["model_name_or_path"]), adapters, base.get("template"), label, run.id)


def resolve_model(ws: Workspace, ref: str, adapters: list[str] | tuple[str, ...] = ()) -> ModelSource:
    """Resolve a folder or run id (plus extra adapter folders); MedtuiError names what is missing."""
    if not ref or not str(ref).strip():
        raise MedtuiError("no model given: name a model folder or a run id")
    runs = list_runs(ws.runs_dir)
    path = ws.resolve(ref)
    if path.is_dir():
        source = _from_folder(ws, path, runs)
    elif _looks_like_path(ref):
        raise MedtuiError(f"model folder not found: {path} (chat loads local folders; download hub models "
                          f"first)")
    else:
        run = _latest_of_stage(runs, ref) if ref in STAGES else None
        try:
            run = run or find_run(ws.runs_dir, ref)
        except MedtuiError:
            raise MedtuiError(f"model not found: {ref!r} is neither a folder (looked at {path}), a run id nor "
                              f"a stage with a finished run (see `medtui runs`)") from None
        if run.stage not in CHAT_STAGES:
            raise MedtuiError(f"run {run.id} is a {run.stage} run; its output cannot chat")
        if run.status != "succeeded":
            raise MedtuiError(f"run {run.id} has not succeeded (status: {run.status})")
        source = from_run(ws, run)
    extra: list[str] = []
    for adapter in adapters:
        apath = ws.resolve(adapter)
        if not apath.is_dir():
            raise MedtuiError(f"adapter folder not found: {apath}")
        if not is_adapter_dir(apath):
            raise MedtuiError(f"{apath} is not a LoRA adapter (no adapter_config.json)")
        extra.append(str(apath))
    source = source.with_adapters(extra)
    for folder in (source.model, *source.adapters):
        if Path(folder).is_absolute() and not Path(folder).is_dir():
            raise MedtuiError(f"model folder not found: {folder}")
    return source


def _latest_of_stage(runs: list[Run], stage: str) -> Run | None:
    """The newest succeeded run of ``stage`` (runs come newest first): ``medtui chat dpo``."""
    for run in runs:
        if run.stage == stage and run.status == "succeeded" and run.kind not in RESULT_KINDS:
            return run
    return None


def _looks_like_path(ref: str) -> bool:
    return ref.startswith((".", "/", "~")) or "/" in ref or "\\" in ref


def _from_folder(ws: Workspace, path: Path, runs: list[Run]) -> ModelSource:
    run = _run_for_output(runs, path)
    if run is not None and run.stage in CHAT_STAGES:
        return from_run(ws, run)
    label = ws.relative(path)
    if is_adapter_dir(path):
        base = adapter_base(path)
        if not base:
            raise MedtuiError(f"{path}: adapter_config.json names no base_model_name_or_path; "
                              f"load the base model and add this folder as an adapter")
        base_path = ws.resolve(base)
        if base_path.is_dir():
            parent = _from_folder(ws, base_path, runs) if is_model_dir(base_path) or is_adapter_dir(base_path) \
                else ModelSource(str(base_path))
            return ModelSource(parent.model, parent.adapters + (str(path),), parent.template, label)
        return ModelSource(base, (str(path),), None, label)
    if not is_model_dir(path):
        raise MedtuiError(f"{path} is not a model folder (no config.json) nor a LoRA adapter "
                          f"(no adapter_config.json)")
    return ModelSource(str(path), (), None, label)


def suggest_template(source: ModelSource) -> str:
    """The template to offer first: the training template, else a model-type guess, else default."""
    if source.template:
        return source.template
    model = Path(source.model)
    if (model / "medtui_demo.json").is_file():
        return "default"
    try:
        model_type = json.loads((model / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        model_type = None
    return TEMPLATE_BY_MODEL_TYPE.get(str(model_type), "default")


def model_sources(ws: Workspace) -> list[ModelSource]:
    """Everything the picker offers: finished runs by name (newest first), then model folders."""
    runs = list_runs(ws.runs_dir)
    out: list[ModelSource] = []
    seen: set[Path] = set()
    for run in runs:
        if run.status != "succeeded" or run.stage not in CHAT_STAGES or run.kind in RESULT_KINDS:
            continue
        if not run.output_dir.is_dir():
            continue
        try:
            key = run.output_dir.resolve()
        except OSError:
            continue
        if key in seen:
            continue  # an older run into the same folder
        seen.add(key)
        out.append(from_run(ws, run))
    for folder in ws.model_dirs():
        if folder.resolve() in seen or (folder / "value_head.safetensors").exists():
            continue
        try:
            out.append(_from_folder(ws, folder, []))
        except MedtuiError:
            continue
    return out
