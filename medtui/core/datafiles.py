"""Streaming access to dataset files (.json arrays, .jsonl, and folders of them).

Records are streamed (ijson for JSON arrays, line by line for JSONL), so no file is ever
loaded whole. Malformed input raises :class:`DataFileError` naming the file, and the line and
column where there is one.
"""

from __future__ import annotations

import io
import json
import os
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

from medtui.core.errors import MedtuiError

DATA_SUFFIXES = (".json", ".jsonl")


class DataFileError(MedtuiError):
    """A dataset file that cannot be read as records."""


def data_files(path: str | os.PathLike) -> list[Path]:
    """The files behind a dataset path: the file itself, or a folder's json/jsonl files in order."""
    p = Path(path)
    if not p.exists():
        raise DataFileError(f"{p}: file not found")
    if p.is_file():
        return [p]
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in DATA_SUFFIXES)
    if not files:
        raise DataFileError(f"{p}: the folder holds no .json or .jsonl files")
    kinds = {f.suffix.lower() for f in files}
    if len(kinds) > 1:
        raise DataFileError(f"{p}: the folder mixes file types ({', '.join(sorted(kinds))}); "
                            f"LLaMA-Factory needs one type per dataset")
    return files


def _open_text(path: Path) -> io.TextIOWrapper:
    return open(path, "r", encoding="utf-8-sig", newline="")


def _first_char(path: Path) -> str:
    with _open_text(path) as fh:
        try:
            while True:
                ch = fh.read(1)
                if not ch:
                    return ""
                if not ch.isspace():
                    return ch
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFileError(f"{path}: line {lineno}, column {exc.start + 1}: not UTF-8 text") from None
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{path}: line {lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise DataFileError(f"{path}: line {lineno}: expected a JSON object, found {type(record).__name__}")
            yield record


def _iter_json_array(path: Path) -> Iterator[dict[str, Any]]:
    import ijson

    first = _first_char(path)
    if first == "":
        raise DataFileError(f"{path}: the file is empty")
    if first == "{":
        raise DataFileError(f"{path}: expected a JSON array of records, found an object")
    if first != "[":
        raise DataFileError(f"{path}: line 1: invalid JSON (expected '[')")
    with open(path, "rb") as fh:
        if fh.read(3) != b"\xef\xbb\xbf":
            fh.seek(0)
        index = 0
        try:
            for record in ijson.items(fh, "item", use_float=True):
                if not isinstance(record, dict):
                    raise DataFileError(f"{path}: record {index}: expected a JSON object, found {type(record).__name__}")
                yield record
                index += 1
        except ijson.common.IncompleteJSONError as exc:
            raise DataFileError(f"{path}: invalid JSON after record {index}: {_locate(path, exc)}") from None
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _locate(path: Path, exc: Exception) -> str:
    """Best-effort line/column for a JSON error (small files are re-parsed to find it)."""
    if path.stat().st_size <= 32 * 1024 * 1024:
        try:
            json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as err:
            return f"line {err.lineno}, column {err.colno}: {err.msg}"
        except UnicodeDecodeError as err:
            return f"not UTF-8 text (byte {err.start})"
    return str(exc).splitlines()[0] if str(exc) else "malformed JSON"


def iter_records(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Stream every record of a dataset file or folder."""
    for file in data_files(path):
        if file.stat().st_size == 0:
            raise DataFileError(f"{file}: the file is empty")
        if file.suffix.lower() == ".jsonl":
            yield from _iter_jsonl(file)
        else:
            yield from _iter_json_array(file)


def head(path: str | os.PathLike, n: int = 5) -> list[dict[str, Any]]:
    return list(islice(iter_records(path), n))


def count_records(path: str | os.PathLike) -> int:
    return sum(1 for _ in iter_records(path))
