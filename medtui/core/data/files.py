"""The files behind a dataset path (.json arrays, .jsonl, and folders of them), and the error
every dataset reader raises.

A leaf module: :mod:`medtui.core.data.scan` and :mod:`medtui.core.data.reader` build on it, and
:mod:`~medtui.core.data.reader` has the streaming helpers (``iter_records``, ``head``,
``count_records``). Malformed input raises :class:`DataFileError` naming the file, and the line
and column where there is one.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    if not p.is_dir():
        raise DataFileError(f"{p}: not a regular file or folder (a pipe or a device?)")
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in DATA_SUFFIXES)
    if not files:
        raise DataFileError(f"{p}: the folder holds no .json or .jsonl files")
    kinds = {f.suffix.lower() for f in files}
    if len(kinds) > 1:
        raise DataFileError(f"{p}: the folder mixes file types ({', '.join(sorted(kinds))}); "
                            f"LLaMA-Factory needs one type per dataset")
    return files

