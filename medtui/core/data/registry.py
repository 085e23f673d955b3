"""The dataset registry: ``data/dataset_info.json``, edited without disturbing the user's file.

Edits are surgical: adding, updating or removing an entry rewrites only that entry's text,
so unknown keys, key order, indentation and every other byte stay as the user wrote them.
Writes are atomic and keep the previous version as ``dataset_info.json.bak``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from medtui.core.atomic import atomic_write_text
from medtui.core.errors import MedtuiError

REGISTRY_NAME = "dataset_info.json"
#: Keys that name where an entry's data comes from, in llamafactory's priority order.
SOURCE_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name")


class RegistryError(MedtuiError):
    """``dataset_info.json`` cannot be read or the requested edit is invalid."""


@dataclass(frozen=True)
class _Member:
    key: str
    key_start: int
    value_start: int
    value_end: int


_decoder = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")


def _skip_ws(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()


def _scan_members(text: str) -> tuple[int, int, list[_Member]]:
    """Find the top-level object's braces and each member's key/value span."""
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "{":
        raise ValueError("the top level is not a JSON object")
    open_brace = pos
    pos = _skip_ws(text, pos + 1)
    members: list[_Member] = []
    if text[pos] == "}":
        return open_brace, pos, members
    while True:
        key_start = pos
        key, pos = json.decoder.scanstring(text, pos + 1)
        pos = _skip_ws(text, pos)
        if text[pos] != ":":
            raise ValueError("expected ':'")
        value_start = _skip_ws(text, pos + 1)
        _, value_end = _decoder.raw_decode(text, value_start)
        members.append(_Member(key, key_start, value_start, value_end))
        pos = _skip_ws(text, value_end)
        if text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
            continue
        if text[pos] == "}":
            return open_brace, pos, members
        raise ValueError("expected ',' or '}'")


def _detect_indent(text: str, members: list[_Member]) -> str:
    if members:
        line_start = text.rfind("\n", 0, members[0].key_start) + 1
        lead = text[line_start : members[0].key_start]
        if lead.strip() == "" and lead:
            return lead
    return "  "


def _dump_value(value: Any, indent: str, ensure_ascii: bool, level_prefix: str) -> str:
    unit: int | str = len(indent) if indent.strip(" ") == "" else indent
    dumped = json.dumps(value, indent=unit, ensure_ascii=ensure_ascii)
    return dumped.replace("\n", "\n" + level_prefix)


class DatasetRegistry:
    """Lists, gets, adds, updates and removes entries of one ``dataset_info.json``.

    A file that fails to parse is kept read-only: :attr:`error` says why, and every edit raises
    :class:`RegistryError` instead of overwriting it.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.error: str | None = None
        self._text = ""
        self._data: dict[str, Any] = {}
        self.reload()

    # -- reading ---------------------------------------------------------------------------
    def reload(self) -> None:
        self.error = None
        if not self.path.exists():
            self._text, self._data = "", {}
            return
        raw = self.path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self._set_error(f"{self.path}: not UTF-8 text (byte {exc.start})")
            return
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self._set_error(f"{self.path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
            return
        if not isinstance(data, dict):
            self._set_error(f"{self.path}: the top level must be a JSON object, found {type(data).__name__}")
            return
        self._text, self._data = text, data
        self._bom = raw.startswith(b"\xef\xbb\xbf")

    def _set_error(self, message: str) -> None:
        self.error = message
        self._text, self._data = "", {}

    @property
    def read_only(self) -> bool:
        return self.error is not None

    def names(self) -> list[str]:
        return list(self._data)

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, name: str) -> dict[str, Any]:
        if name not in self._data:
            raise RegistryError(f"dataset {name!r} is not registered in {self.path}")
        return self._data[name]

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self._data.items())

    def data_file(self, name: str) -> Path | None:
        """The local file or folder an entry points at, or None for hub-hosted entries."""
        entry = self.get(name)
        if any(entry.get(key) for key in SOURCE_KEYS[:-1]):
            return None
        if not entry.get("file_name") or not isinstance(entry["file_name"], str):
            return None
        return self.path.parent / entry["file_name"]

    # -- writing ---------------------------------------------------------------------------
    def _check_writable(self) -> None:
        if self.error:
            raise RegistryError(f"refusing to write: {self.error}")

    def add(self, name: str, entry: dict[str, Any]) -> None:
        self._check_writable()
        if not name or not isinstance(name, str):
            raise RegistryError("a dataset name must be a non-empty string")
        if name in self._data:
            raise RegistryError(f"dataset {name!r} is already registered; update it instead")
        if not isinstance(entry, dict):
            raise RegistryError("a registry entry must be a JSON object")
        if not self._text.strip():
            ascii_ = False
            text = "{\n" + "  " + json.dumps(name, ensure_ascii=ascii_) + ": "
            text += _dump_value(entry, "  ", ascii_, "  ") + "\n}\n"
            self._commit(text)
            return
        open_brace, close_brace, members = _scan_members(self._text)
        indent = _detect_indent(self._text, members)
        ascii_ = self._ensure_ascii()
        member_text = json.dumps(name, ensure_ascii=ascii_) + ": " + _dump_value(entry, indent, ascii_, indent)
        if members:
            last = members[-1]
            text = self._text[: last.value_end] + ",\n" + indent + member_text + self._text[last.value_end :]
        else:
            inner = "\n" + indent + member_text + "\n"
            text = self._text[: open_brace + 1] + inner + self._text[close_brace:]
        self._commit(text)

    def update(self, name: str, entry: dict[str, Any]) -> None:
        self._check_writable()
        if name not in self._data:
            raise RegistryError(f"dataset {name!r} is not registered in {self.path}")
        if not isinstance(entry, dict):
            raise RegistryError("a registry entry must be a JSON object")
        if entry == self._data[name]:
            return
        _, _, members = _scan_members(self._text)
        member = next(m for m in reversed(members) if m.key == name)
        indent = _detect_indent(self._text, members)
        dumped = _dump_value(entry, indent, self._ensure_ascii(), indent)
        self._commit(self._text[: member.value_start] + dumped + self._text[member.value_end :])

    def remove(self, name: str) -> None:
        self._check_writable()
        if name not in self._data:
            raise RegistryError(f"dataset {name!r} is not registered in {self.path}")
        open_brace, close_brace, members = _scan_members(self._text)
        index = max(i for i, m in enumerate(members) if m.key == name)
        member = members[index]
        if len(members) == 1:
            text = self._text[: open_brace + 1] + "}" + self._text[close_brace + 1 :]
        elif index == 0:
            text = self._text[: member.key_start] + self._text[members[1].key_start :]
        else:
            prev = members[index - 1]
            text = self._text[: prev.value_end] + self._text[member.value_end :]
        self._commit(text)

    def _ensure_ascii(self) -> bool:
        has_raw_non_ascii = any(ord(ch) > 127 for ch in self._text)
        return (not has_raw_non_ascii) and "\\u" in self._text

    def _commit(self, text: str) -> None:
        data = json.loads(text)  # never write something that does not parse
        out = ("\ufeff" + text) if getattr(self, "_bom", False) else text
        atomic_write_text(self.path, out, backup=True)
        self._text, self._data = text, data
