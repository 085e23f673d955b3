"""The built-in demo workspace: the tutorial's datasets plus a tiny generated model.

``medtui demo init DIR`` calls :func:`init_demo`; ``medtui --demo`` uses :func:`default_demo_dir`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Callable

from medtui.core.atomic import atomic_write_text
from medtui.core.env.child import child_env
from medtui.core.errors import MedtuiError
from medtui.core.userdirs import data_dir
from medtui.core.workspace import Workspace

DEMO_MODEL = "workflow-demo-tiny-qwen2"
SEED_FILES = ("custom_pt_train_data.json", "custom_rlhf_train_data.json")


def seed_path(name: str) -> Path:
    return Path(str(resources.files("medtui.resources").joinpath("seed", name)))


def default_demo_dir() -> Path:
    return data_dir() / "demo"


def derived_sets(pairs: list[dict]) -> tuple[list[dict], list[dict]]:
    """The demo SFT set (instruction, input → chosen) and KTO set (chosen → true, rejected → false)."""
    sft = [{"instruction": p["instruction"], "input": p.get("input", ""), "output": p["chosen"]} for p in pairs]
    kto: list[dict] = []
    for p in pairs:
        kto.append({"instruction": p["instruction"], "input": p.get("input", ""), "output": p["chosen"], "kto_tag": True})
        kto.append({"instruction": p["instruction"], "input": p.get("input", ""), "output": p["rejected"],
                    "kto_tag": False})
    return sft, kto


def registry_text() -> str:
    """The tutorial's three registrations, exactly as it writes them, plus the two derived sets."""
    entries = json.loads(seed_path("dataset_info.seed.json").read_text(encoding="utf-8"))
    entries["demo_sft_train_data"] = {
        "file_name": "demo_sft_train_data.json",
        "columns": {"prompt": "instruction", "query": "input", "response": "output"},
    }
    entries["demo_kto_train_data"] = {
        "file_name": "demo_kto_train_data.json",
        "columns": {"prompt": "instruction", "query": "input", "response": "output", "kto_tag": "kto_tag"},
    }
    return json.dumps(entries, indent=2, ensure_ascii=False) + "\n"


def is_demo_workspace(root: Path) -> bool:
    return (root / "models" / DEMO_MODEL / "medtui_demo.json").is_file()


def init_demo(root: str | os.PathLike, *, say: Callable[[str], None] = lambda _m: None) -> Workspace:
    """Create (or complete) a demo workspace at ``root``. Existing files are never overwritten.

    If it cannot finish (a read-only folder, a full disk, Ctrl-C), what this call created is
    removed again, so a failed init changes nothing.
    """
    ws = Workspace.open(root)
    if ws.root.exists() and not ws.root.is_dir():
        raise MedtuiError(f"{ws.root} exists and is not a folder")
    created: list[Path] = []
    try:
        _init(ws, created, say)
    except BaseException as exc:
        _undo(created)
        if isinstance(exc, OSError):
            where = f"{exc.filename}: " if exc.filename else ""
            raise MedtuiError(f"cannot create the demo workspace: {where}{exc.strerror or exc} "
                              f"(nothing was left behind)") from None
        raise
    say(f"demo workspace ready: {ws.root}")
    return ws


def _mkdirs(folder: Path, created: list[Path]) -> None:
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for q in reversed(missing):
        q.mkdir()
        created.append(q)


def _write_new(path: Path, text: str, created: list[Path]) -> None:
    if not path.exists():
        atomic_write_text(path, text)
        created.append(path)


def _undo(created: list[Path]) -> None:
    import shutil

    for path in reversed(created):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            pass


def _init(ws: Workspace, created: list[Path], say: Callable[[str], None]) -> None:
    for folder in (ws.data_dir, ws.models_dir, ws.saves_dir, ws.runs_dir):
        _mkdirs(folder, created)
    for name in SEED_FILES:
        _write_new(ws.data_dir / name, seed_path(name).read_text(encoding="utf-8"), created)
    pairs = json.loads(seed_path("custom_rlhf_train_data.json").read_text(encoding="utf-8"))
    sft, kto = derived_sets(pairs)
    for name, rows in (("demo_sft_train_data.json", sft), ("demo_kto_train_data.json", kto)):
        _write_new(ws.data_dir / name, json.dumps(rows, indent=2, ensure_ascii=False) + "\n", created)
    _write_new(ws.registry_path, registry_text(), created)
    model_dir = ws.models_dir / DEMO_MODEL
    if not (model_dir / "model.safetensors").exists():
        say(f"generating the tiny workflow demo model in {model_dir} (not a medical model) ...")
        fresh = not model_dir.exists()
        if fresh:
            created.append(model_dir)
        build_demo_model(model_dir)


def build_demo_model(model_dir: Path) -> None:
    corpus = [str(seed_path(name)) for name in SEED_FILES]
    env = child_env(extra={"TRANSFORMERS_VERBOSITY": "error", "TQDM_DISABLE": "1"})
    proc = subprocess.run([sys.executable, "-m", "medtui.workers.demo_model", str(model_dir), *corpus],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["unknown error"]
        raise MedtuiError(f"could not build the demo model: {tail[0]}")
