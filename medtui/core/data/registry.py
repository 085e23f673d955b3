"""The dataset registry: ``data/dataset_info.json``, edited without disturbing the user's file.

Edits are surgical: adding, updating or removing an entry rewrites only that entry's text,
so unknown keys, key order, indentation and every other byte stay as the user wrote them.
Writes are atomic and keep the previous version as ``dataset_info.json.bak``.

Every edit is a read-modify-write under an exclusive ``flock`` on ``.dataset_info.json.lock``
beside the file, and re-reads the file once it holds the lock: two writers (CLI, TUI, pipelines,
several machines sharing a folder) never lose each other's entries. A registry that is a symlink
is edited through the link: the lock, the backup and the atomic rename happen at its target.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from medtui.core.atomic import atomic_write_text
from medtui.core.errors import MedtuiError
from medtui.core.filelock import lock_exclusive

REGISTRY_NAME = "dataset_info.json"
#: Keys that name where an entry's data comes from, in llamafactory's priority order.
SOURCE_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name")


#: How long an edit waits for another writer's lock before giving up.
LOCK_TIMEOUT = 30.0


class RegistryError(MedtuiError):
    """``dataset_info.json`` cannot be read or the requested edit is invalid."""


def entry_problem(entry: Any) -> str | None:
    """Why llamafactory could not use ``entry`` (its shape, not its data), or None."""
    if not isinstance(entry, dict):
        return f"the entry must be a JSON object, found {_type_name(entry)}"
    for key in SOURCE_KEYS:
        if key in entry and entry[key] is not None and not isinstance(entry[key], str):
            return f"{key} must be a string, found {_type_name(entry[key])}"
    for key in ("columns", "tags"):
        value = entry.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            return f"{key} must be a JSON object, found {_type_name(value)}"
        bad = next((k for k, v in value.items() if v is not None and not isinstance(v, str)), None)
        if bad is not None:
            return f"{key}.{bad} must be a string, found {_type_name(value[bad])}"
    fmt = entry.get("formatting")
    if fmt is not None and fmt not in ("alpaca", "sharegpt", "openai"):
        return f"formatting must be alpaca, sharegpt or openai, found {json.dumps(fmt, ensure_ascii=False)[:40]}"
    return None


def name_problem(name: Any) -> str | None:
    """Why ``name`` cannot name a dataset (llamafactory splits ``dataset: a,b`` on commas), or None."""
    if not isinstance(name, str) or not name.strip():
        return "a dataset name must be a non-empty string"
    if name != name.strip():
        return f"dataset name {name!r} starts or ends with spaces"
    if "," in name:
        return f"dataset name {name!r} contains a comma (llamafactory splits dataset lists on commas)"
    if any(not ch.isprintable() for ch in name):
        return f"dataset name {name!r} contains a control character"
    return None


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


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
        self._bom = False
        self._lock_depth = 0
        self.reload()

    @property
    def target(self) -> Path:
        """The file edits land in: the registry itself, or the end of its symlink chain."""
        return Path(os.path.realpath(self.path))

    @property
    def lock_path(self) -> Path:
        target = self.target
        return target.with_name(f".{target.name}.lock")

    # -- reading ---------------------------------------------------------------------------
    def reload(self) -> None:
        self.error = None
        self._bom = False
        if not self.path.exists():
            self._text, self._data = "", {}
            return
        if self.path.is_dir():
            self._set_error(f"{self.path}: is a folder, not a file")
            return
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            self._set_error(f"{self.path}: cannot read it ({exc.strerror or exc})")
            return
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
        except RecursionError:
            self._set_error(f"{self.path}: nested too deeply to read")
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
        """The entry of ``name``; raises when it is missing or not a JSON object."""
        if name not in self._data:
            raise RegistryError(f"dataset {name!r} is not registered in {self.path}")
        entry = self._data[name]
        if not isinstance(entry, dict):
            raise RegistryError(f"dataset {name!r} in {self.path}: {entry_problem(entry)}")
        return entry

    def raw(self, name: str) -> Any:
        """The entry of ``name`` as written, whatever its shape (None when missing)."""
        return self._data.get(name)

    def problem(self, name: str) -> str | None:
        """What is wrong with the shape of ``name``'s entry, or None (see :func:`entry_problem`)."""
        return entry_problem(self._data.get(name)) if name in self._data else None

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self._data.items())

    def data_file(self, name: str) -> Path | None:
        """The local file or folder an entry points at, or None for hub-hosted entries."""
        entry = self.get(name)
        problem = entry_problem(entry)
        if problem:
            raise RegistryError(f"dataset {name!r} in {self.path}: {problem}")
        if any(entry.get(key) for key in SOURCE_KEYS[:-1]):
            return None
        if not entry.get("file_name") or not isinstance(entry["file_name"], str):
            return None
        if "\x00" in entry["file_name"]:
            raise RegistryError(f"dataset {name!r} in {self.path}: file_name contains a NUL byte")
        return self.path.parent / entry["file_name"]

    # -- writing ---------------------------------------------------------------------------
    @contextmanager
    def locked(self, timeout: float = LOCK_TIMEOUT) -> Iterator["DatasetRegistry"]:
        """Hold the registry's exclusive lock, with the file freshly re-read; re-entrant.

        Checks made inside (is a name taken?) hold until the block ends, so a check-then-edit
        loses nothing to another writer. Waits up to ``timeout`` seconds for another writer.
        """
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield self
            finally:
                self._lock_depth -= 1
            return
        fd = self._open_lock()
        try:
            if fd is not None:
                self._flock(fd, timeout)
            self._lock_depth = 1
            self.reload()
            yield self
        finally:
            self._lock_depth = 0
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the lock

    def _open_lock(self) -> int | None:
        path = self.lock_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            try:
                return os.open(path, os.O_RDONLY)  # flock works on a read-only descriptor too
            except OSError:
                pass
            raise RegistryError(f"cannot write {self.path}: {exc.strerror or exc} (nothing was changed)") from None

    def _flock(self, fd: int, timeout: float) -> None:
        """Where the filesystem has no locks, the atomic rename is all there is."""
        try:
            lock_exclusive(fd, timeout)
        except TimeoutError:
            raise RegistryError(f"{self.path} is being edited by another program (lock {self.lock_path} "
                                f"held for over {timeout:.0f}s); nothing was changed") from None
        except OSError as exc:
            raise RegistryError(f"cannot lock {self.path}: {exc.strerror or exc} (nothing was changed)") from None

    def _check_writable(self) -> None:
        if self.error:
            raise RegistryError(f"refusing to write: {self.error}")

    def add(self, name: str, entry: dict[str, Any]) -> None:
        with self.locked():
            self._add(name, entry)

    def _add(self, name: str, entry: dict[str, Any]) -> None:
        self._check_writable()
        problem = name_problem(name)
        if problem:
            raise RegistryError(problem)
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
        with self.locked():
            self._update(name, entry)

    def _update(self, name: str, entry: dict[str, Any]) -> None:
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
        with self.locked():
            self._remove(name)

    def _remove(self, name: str) -> None:
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
        out = ("\ufeff" + text) if self._bom else text
        try:
            atomic_write_text(self.target, out, backup=True)
        except OSError as exc:
            raise RegistryError(f"cannot write {self.path}: {exc.strerror or exc} (nothing was changed)") from None
        self._text, self._data = text, data
