"""Templates for new dataset files, one per kind of stage, and creating them registered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medtui.core.atomic import atomic_write_text
from medtui.core.data.registry import DatasetRegistry
from medtui.core.errors import MedtuiError

#: kind -> (a blank record, the registry entry for it, title en, title zh)
SCHEMAS: dict[str, tuple[dict[str, Any], dict[str, Any], str, str]] = {
    "pt": ({"text": ""}, {"columns": {"prompt": "text"}}, "Pre-training text (pt)", "预训练文本 (pt)"),
    "sft": ({"instruction": "", "input": "", "output": ""},
            {"columns": {"prompt": "instruction", "query": "input", "response": "output"}},
            "Instruction tuning (sft)", "指令微调 (sft)"),
    "preference": ({"instruction": "", "input": "", "chosen": "", "rejected": ""},
                   {"ranking": True, "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                                 "rejected": "rejected"}},
                   "Preference pairs (rm, dpo)", "偏好对 (rm, dpo)"),
    "kto": ({"instruction": "", "input": "", "output": "", "kto_tag": True},
            {"columns": {"prompt": "instruction", "query": "input", "response": "output", "kto_tag": "kto_tag"}},
            "Labelled answers (kto)", "带标签回答 (kto)"),
}


def create_dataset(registry: DatasetRegistry, name: str, kind: str, file_name: str | None = None) -> Path:
    """Write an empty dataset file for ``kind`` (never over an existing file) and register it."""
    if kind not in SCHEMAS:
        raise MedtuiError(f"unknown dataset kind {kind!r}; choose one of {', '.join(SCHEMAS)}")
    if registry.read_only:
        raise MedtuiError(f"refusing to write: {registry.error}")
    if not name or name in registry:
        raise MedtuiError(f"dataset {name!r} is already registered" if name else "a dataset needs a name")
    file_name = file_name or f"{name}.json"
    path = registry.path.parent / file_name
    if path.exists():
        raise MedtuiError(f"{path} already exists; choose another file name")
    if Path(file_name).suffix.lower() not in (".json", ".jsonl"):
        raise MedtuiError(f"{file_name}: a new dataset file must end in .json or .jsonl")
    atomic_write_text(path, "[]\n" if path.suffix.lower() == ".json" else "")
    entry = {"file_name": file_name, **json.loads(json.dumps(SCHEMAS[kind][1]))}
    try:
        registry.add(name, entry)
    except MedtuiError:
        path.unlink(missing_ok=True)
        raise
    return path
