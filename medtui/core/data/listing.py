"""One row per registered dataset: its source, whether the file exists, size, format and stages.

Record counts are not filled here (they need a scan); the CLI and the screen count lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medtui.core.data.columns import formatting
from medtui.core.data.fit import stages_for
from medtui.core.data.registry import SOURCE_KEYS, DatasetRegistry, RegistryError


@dataclass
class DatasetRow:
    name: str
    entry: dict[str, Any]
    source: str
    path: Path | None  # None for hub-hosted entries
    exists: bool
    size: int | None
    formatting: str
    ranking: bool
    stages: list[str] = field(default_factory=list)
    records: int | None = None
    problem: str | None = None  # the entry's shape is wrong (see registry.entry_problem)

    @property
    def hub(self) -> bool:
        return self.path is None and self.problem is None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "path": str(self.path) if self.path else None,
                "exists": self.exists, "size": self.size, "formatting": self.formatting, "ranking": self.ranking,
                "stages": self.stages, "records": self.records, "problem": self.problem}


def _size(path: Path) -> int | None:
    try:
        if path.is_file():
            return path.stat().st_size
        if path.is_dir():
            return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    except OSError:
        pass
    return None


def list_datasets(registry: DatasetRegistry) -> list[DatasetRow]:
    rows = []
    for name, raw in registry.items():
        problem = registry.problem(name)
        if problem:
            entry = raw if isinstance(raw, dict) else {}
            source = str(entry.get("file_name") or "")[:80] if isinstance(entry.get("file_name"), str) else ""
            rows.append(DatasetRow(name, entry, source, None, False, None, "?", False, [], problem=problem))
            continue
        entry = raw
        source_key = next((k for k in SOURCE_KEYS if entry.get(k)), None)
        source = str(entry.get(source_key, "")) if source_key else ""
        try:
            path = registry.data_file(name)
        except RegistryError as exc:
            rows.append(DatasetRow(name, entry, source, None, False, None, "?", False, [], problem=str(exc)))
            continue
        exists = _exists(path) if path is not None else False
        rows.append(DatasetRow(name, entry, source, path, exists, _size(path) if exists else None,
                               formatting(entry), bool(entry.get("ranking")), stages_for(entry)))
    return rows


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
