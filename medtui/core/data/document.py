"""A small dataset file edited in memory and saved atomically: add, edit, duplicate, delete records.

Files above :data:`EDIT_LIMIT` bytes are preview-only. Saving keeps the file's kind (JSON array or
JSON Lines), its BOM and its indentation, and never writes a torn file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medtui.core.atomic import atomic_write_text
from medtui.core.data.files import DataFileError
from medtui.core.data.reader import RecordFile
from medtui.core.errors import MedtuiError

EDIT_LIMIT = 8 * 1024 * 1024


class TooLargeToEdit(MedtuiError):
    """The file is over the edit limit; it can be previewed only."""


class DatasetDocument:
    def __init__(self, path: str | Path, records: list[dict[str, Any]], *, kind: str = "array",
                 indent: int | str | None = 2, bom: bool = False):
        self.path = Path(path)
        self.records = records
        self.kind, self.indent, self.bom = kind, indent, bom
        self.dirty = False

    @classmethod
    def load(cls, path: str | Path, limit: int = EDIT_LIMIT) -> "DatasetDocument":
        path = Path(path)
        if not path.is_file():
            raise DataFileError(f"{path}: only a single .json or .jsonl file can be edited" if path.exists()
                                else f"{path}: file not found")
        size = path.stat().st_size
        if size > limit:
            raise TooLargeToEdit(f"{path.name} is {size / 1e6:.1f} MB, over the {limit / 1e6:.0f} MB edit limit: "
                                 f"preview only")
        raw = path.read_bytes()
        bom = raw.startswith(b"\xef\xbb\xbf")
        if not raw.strip(b" \t\r\n\xef\xbb\xbf") and path.suffix.lower() == ".jsonl":
            return cls(path, [], kind="jsonl", bom=bom)
        rf = RecordFile(path)
        kind = rf.kind()
        records = list(rf.iter_records())
        return cls(path, records, kind=kind, indent=_indent(raw) if kind == "array" else None, bom=bom)

    # -- edits -------------------------------------------------------------------------
    def _check(self, index: int) -> None:
        if not 0 <= index < len(self.records):
            raise MedtuiError(f"no record {index} (the file has {len(self.records)})")

    def add(self, record: dict[str, Any], at: int | None = None) -> int:
        at = len(self.records) if at is None else at
        self.records.insert(at, dict(record))
        self.dirty = True
        return at

    def update(self, index: int, record: dict[str, Any]) -> None:
        self._check(index)
        self.records[index] = dict(record)
        self.dirty = True

    def duplicate(self, index: int) -> int:
        self._check(index)
        return self.add(json.loads(json.dumps(self.records[index])), index + 1)

    def delete(self, index: int) -> None:
        self._check(index)
        del self.records[index]
        self.dirty = True

    def fields(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.records:
            seen.update(dict.fromkeys(r))
        return list(seen)

    # -- saving ------------------------------------------------------------------------
    def text(self) -> str:
        if self.kind == "jsonl":
            body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records)
        else:
            body = json.dumps(self.records, indent=self.indent, ensure_ascii=False) + "\n"
        return ("\ufeff" if self.bom else "") + body

    def save(self) -> None:
        atomic_write_text(self.path, self.text())
        self.dirty = False


def _indent(raw: bytes) -> int | str | None:
    """The indentation of the first nested line of a JSON array, as json.dumps wants it."""
    text = raw[:65536].decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = text.splitlines()
    if len(lines) < 2:
        return None
    for line in lines[1:]:
        lead = line[: len(line) - len(line.lstrip(" \t"))]
        if lead:
            return lead if "\t" in lead else len(lead)
    return 2
