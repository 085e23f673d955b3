"""Suggest ``dataset_info.json`` entries for the data files of a downloaded dataset.

Columns are detected from the first records (streamed, so any size works): alpaca
(instruction/input/output, with chosen/rejected for ranking data and kto_tag for KTO),
sharegpt/openai (conversations or messages), and pre-training text. The tutorial's
Chinese-medical-dialogue file gives prompt=instruction, query=input, response=output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medtui.core.data.files import DataFileError
from medtui.core.data.reader import head
from medtui.core.errors import MedtuiError

SKIP_NAMES = {"dataset_info.json", "dataset_infos.json", "configuration.json", "config.json", "README.json"}
ALPACA = (("prompt", ("instruction", "prompt", "question")), ("query", ("input", "query")),
          ("response", ("output", "response", "answer")), ("system", ("system",)), ("history", ("history",)))


@dataclass(frozen=True)
class Suggestion:
    name: str
    file: Path
    entry: dict[str, Any] | None
    note: str = ""
    registered_as: str | None = None  # an existing entry already points at this file

    @property
    def columns_text(self) -> str:
        if not self.entry:
            return self.note
        cols = ", ".join(f"{k}={v}" for k, v in self.entry.get("columns", {}).items())
        extra = [f"formatting={self.entry['formatting']}"] if "formatting" in self.entry else []
        extra += ["ranking"] if self.entry.get("ranking") else []
        return ", ".join([cols, *extra]) if extra else cols


def detect_columns(records: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """(entry without file_name, note) for records; None when the shape is not recognised."""
    if not records:
        return None, "no records"
    keys = set().union(*(r.keys() for r in records))
    for conv in ("conversations", "messages"):
        if conv in keys:
            entry: dict[str, Any] = {"formatting": "sharegpt", "columns": {"messages": conv}}
            turns = next((r[conv] for r in records if isinstance(r.get(conv), list) and r[conv]), [])
            first = turns[0] if turns and isinstance(turns[0], dict) else {}
            if "role" in first and "content" in first:
                entry["tags"] = {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                 "assistant_tag": "assistant", "system_tag": "system"}
            for extra in ("system", "tools"):
                if extra in keys:
                    entry["columns"][extra] = extra
            if {"chosen", "rejected"} <= keys:
                entry["ranking"] = True
                entry["columns"].update(chosen="chosen", rejected="rejected")
            return entry, ""
    columns: dict[str, str] = {}
    for target, candidates in ALPACA:
        found = next((c for c in candidates if c in keys), None)
        if found:
            columns[target] = found
    entry = {"columns": columns}
    if {"chosen", "rejected"} <= keys and "prompt" in columns:
        columns.pop("response", None)
        columns.update(chosen="chosen", rejected="rejected")
        entry["ranking"] = True
        return entry, ""
    if "kto_tag" in keys and "prompt" in columns:
        columns["kto_tag"] = "kto_tag"
    if "prompt" in columns and "response" in columns:
        return entry, ""
    if "text" in keys:
        return {"columns": {"prompt": "text"}}, "pre-training text"
    return None, f"unrecognised columns: {', '.join(sorted(keys))[:120]}"


def suggest(folder: Path, data_dir: Path, dataset: str, registry=None) -> list[Suggestion]:
    """One suggestion per .json/.jsonl data file under ``folder`` (``file_name`` relative to data_dir).

    With ``registry`` (a DatasetRegistry), names already taken are avoided and files an entry
    already points at are marked ``registered_as``.
    """
    items = registry.items() if registry is not None else []
    taken = {name for name, _ in items}
    by_file = {str(e.get("file_name")): name for name, e in items if isinstance(e, dict) and e.get("file_name")}
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".json", ".jsonl")
                   and p.name not in SKIP_NAMES and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    out: list[Suggestion] = []
    for file in files:
        try:
            records = head(file, 20)
        except DataFileError as exc:
            out.append(Suggestion("", file, None, str(exc).split(": ", 1)[-1]))
            continue
        entry, note = detect_columns(records)
        name = dataset if len(files) == 1 else f"{dataset}_{file.stem}"
        base, n = name, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        try:
            rel = file.relative_to(data_dir).as_posix()
        except ValueError:
            rel = str(file)
        if entry is not None:
            entry = {"file_name": rel, **entry}
        out.append(Suggestion(name, file, entry, note, by_file.get(rel)))
    return out


def register(ws, suggestion: Suggestion, name: str | None = None) -> str:
    """Add a suggestion to the workspace's dataset_info.json; returns the name used."""
    if suggestion.entry is None:
        raise MedtuiError(f"{suggestion.file}: columns not detected ({suggestion.note}); register it by hand")
    name = (name or suggestion.name).strip()
    ws.registry().add(name, dict(suggestion.entry))
    return name
