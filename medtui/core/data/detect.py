"""The one dataset format detector: a ``dataset_info.json`` entry guessed from a file's first records.

:func:`detect_entry` is used everywhere an entry is guessed: the Register form of the Datasets
screen and ``medtui data suggest`` (:func:`suggest_entry`), and the registration of a downloaded
dataset's files (:func:`suggest`, :func:`register`). Shapes: alpaca (instruction/input/output and
the usual alternatives, chosen/rejected for preference data, a boolean kto_tag/label/tag for KTO),
sharegpt (from/value messages) or openai (role/content messages) under any key, and pre-training
text. The tutorial's Chinese-medical-dialogue file gives prompt=instruction, query=input,
response=output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medtui.core.data.columns import OPENAI_TAGS, keys_of
from medtui.core.data.files import DataFileError
from medtui.core.data.reader import head
from medtui.core.errors import MedtuiError

SKIP_NAMES = {"dataset_info.json", "dataset_infos.json", "configuration.json", "config.json", "README.json"}
PROMPT_KEYS = ("instruction", "prompt", "question", "text", "query", "content")
RESPONSE_KEYS = ("output", "response", "answer", "completion")
KTO_KEYS = ("kto_tag", "label", "tag")
TEXT_ROLES = ("prompt", "query", "response", "messages", "chosen")


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


def _message_list(value: Any) -> list[dict] | None:
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        return value
    return None


def _first_messages(records: list[dict[str, Any]]) -> tuple[str, list[dict]] | None:
    """The first non-empty list of message objects in ``records``, with its key."""
    for record in records:
        for key, value in record.items():
            messages = _message_list(value)
            if messages:
                return key, messages
    return None


def detect_format(records: list[dict[str, Any]]) -> str:
    """alpaca, sharegpt (from/value messages) or openai (role/content messages), from the first records."""
    found = _first_messages(records)
    if found:
        keys = set(found[1][0])
        if {"role", "content"} <= keys:
            return "openai"
        if {"from", "value"} <= keys:
            return "sharegpt"
    return "alpaca"


def detect_entry(records: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """(entry without ``file_name``, note) guessed from a file's first records; the entry is None
    when no column could be mapped to a text role (prompt, query, response, messages, chosen)."""
    if not records:
        return None, "no records"
    keys = keys_of(records)
    fmt = detect_format(records)
    entry: dict[str, Any] = {}
    columns: dict[str, str] = {}
    if fmt == "alpaca":
        prompt = next((k for k in PROMPT_KEYS if k in keys), None)
        if prompt:
            columns["prompt"] = prompt
        if "input" in keys and prompt != "input":
            columns["query"] = "input"
        response = next((k for k in RESPONSE_KEYS if k in keys), None)
        if response:
            columns["response"] = response
        for key in ("history", "system"):
            if key in keys:
                columns[key] = key
    else:
        entry["formatting"] = fmt
        found = _first_messages(records)
        if found:
            columns["messages"] = found[0]
        for key in ("system", "tools"):
            if key in keys:
                columns[key] = key
        if fmt == "openai":
            entry["tags"] = {k: OPENAI_TAGS[k] for k in ("role_tag", "content_tag", "user_tag", "assistant_tag",
                                                          "system_tag")}
    if "chosen" in keys and "rejected" in keys:
        entry["ranking"] = True
        columns.update(chosen="chosen", rejected="rejected")
        columns.pop("response", None)
    tag = next((k for k in KTO_KEYS if k in keys and all(isinstance(r.get(k), bool) for r in records if k in r)), None)
    if tag:
        columns["kto_tag"] = tag
    if not any(role in columns for role in TEXT_ROLES):
        return None, f"unrecognised columns: {', '.join(sorted(keys))[:120]}"
    entry["columns"] = columns
    return entry, "pre-training text" if columns == {"prompt": "text"} else ""


def suggest_entry(file_name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """An entry for ``file_name`` to start a form from: :func:`detect_entry`'s guess, or just the file."""
    entry, _ = detect_entry(records)
    return {"file_name": file_name, **(entry or {})}


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
        entry, note = detect_entry(records)
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
