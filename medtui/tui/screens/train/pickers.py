"""What the Train form's pickers (and its Load dialog) offer, read from the workspace (plain Python, run in workers)."""

from __future__ import annotations

import os
from pathlib import Path

from medtui.core.data.fit import compatible
from medtui.core.workspace import Workspace

#: Which picker a field has.
PICKERS = {
    "model_name_or_path": "model",
    "adapter_name_or_path": "adapter",
    "reward_model": "adapter",
    "output_dir": "output",
    "export_dir": "output",
    "dataset": "dataset",
    "template": "template",  # the installed llamafactory's templates
}
MAX_DEPTH = 3
MAX_ITEMS = 200


def model_choices(ws: Workspace) -> list[str]:
    """Full model folders (config.json): base models, full fine-tunes and exports."""
    return [ws.relative(p) for p in ws.model_dirs() if (p / "config.json").is_file()]


def adapter_choices(ws: Workspace) -> list[str]:
    return [ws.relative(p) for p in ws.model_dirs() if (p / "adapter_config.json").is_file()]


def output_choices(ws: Workspace) -> list[str]:
    """Folders under saves/ (not checkpoints), shallow first, at most :data:`MAX_ITEMS`."""
    found: list[str] = []
    if not ws.saves_dir.is_dir():
        return found
    base_depth = len(ws.saves_dir.parts)
    for root, dirs, _files in os.walk(ws.saves_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("checkpoint-", ".")))
        depth = len(Path(root).parts) - base_depth
        if depth >= MAX_DEPTH:
            dirs[:] = []
        for d in dirs:
            found.append(ws.relative(Path(root) / d))
        if len(found) >= MAX_ITEMS:
            break
    return sorted(found)[:MAX_ITEMS]


def dataset_choices(ws: Workspace, stage: str, dataset_dir: str | None = None) -> tuple[list[tuple[str, str]], str | None]:
    """(label, name) of the registered datasets that fit ``stage``, and the registry's error if any."""
    registry = ws.registry(dataset_dir)
    if registry.error:
        return [], registry.error
    items = dict(registry.items())
    names = compatible(stage, items.items())
    return [(f"{n}  ({items[n].get('file_name') or 'hub'})", n) for n in names], None


def choices(ws: Workspace, field: str, stage: str, dataset_dir: str | None) -> tuple[str, list, str | None]:
    """The picker of ``field``: its kind, what it offers, and an error (a broken registry) if any."""
    kind = PICKERS[field]
    if kind == "dataset":
        options, error = dataset_choices(ws, stage, dataset_dir)
        return kind, options, error
    if kind == "model":
        return kind, model_choices(ws), None
    if kind == "adapter":
        return kind, adapter_choices(ws), None
    if kind == "template":
        from medtui.core.stages.spec import template_names

        return kind, list(template_names()), None
    return kind, output_choices(ws), None


def config_files(ws: Workspace) -> list[str]:
    """YAML configs in the workspace (root, configs/, examples/), then LlamaBoard output folders under
    saves/ (they hold training_args.yaml or llamaboard_config.yaml), for the Load dialog."""
    from medtui.core.stages.llamaboard import is_output_folder

    out: list[str] = []
    for folder in output_choices(ws):
        if is_output_folder(ws.resolve(folder)):
            out.append(folder)
    for folder, depth in ((ws.root, 0), (ws.root / "configs", MAX_DEPTH), (ws.root / "examples", MAX_DEPTH)):
        if not folder.is_dir():
            continue
        pattern = "*.yaml" if depth == 0 else "**/*.yaml"
        for p in sorted(folder.glob(pattern)):
            if len(p.relative_to(folder).parts) <= depth + 1:
                out.append(ws.relative(p))
            if len(out) >= MAX_ITEMS:
                return out
    return out
