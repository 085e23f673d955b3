"""Streaming access to dataset files (.json arrays, .jsonl, and folders of them).

Records are streamed (ijson for JSON arrays, line by line for JSONL), so no file is ever
loaded whole; :mod:`medtui.core.data.reader` does the reading and paging. Malformed input
raises :class:`DataFileError` naming the file, and the line and column where there is one.
"""

from __future__ import annotations

import os
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


def iter_records(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Stream every record of a dataset file or folder (see :mod:`medtui.core.data.reader`)."""
    from medtui.core.data.reader import DatasetReader

    yield from DatasetReader(path).iter_records()


def head(path: str | os.PathLike, n: int = 5) -> list[dict[str, Any]]:
    """The first ``n`` records, read without scanning the rest of the file."""
    from medtui.core.data.reader import DatasetReader

    return DatasetReader(path).head(n)


def count_records(path: str | os.PathLike) -> int:
    """The number of records (indexes the file's record boundaries; records are not decoded)."""
    from medtui.core.data.reader import DatasetReader

    return DatasetReader(path).count() or 0

