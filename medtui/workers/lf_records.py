"""Records of a registered dataset as llamafactory's converter aligns them (for worker processes).

medtui's reader streams the raw records (no full ``datasets`` load); llamafactory's own converter
for the entry's formatting turns each into ``_prompt``, ``_response``, ``_system``, ``_tools``.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Any, Iterator


class Row(dict):
    """A record as ``datasets`` hands it to a converter: columns it lacks read as None."""

    def __missing__(self, key):
        return None


def data_file(attr, dataset_dir: str) -> Path:
    """The file a local dataset entry reads (the first data file of a folder)."""
    if attr.load_from != "file":
        raise ValueError(f"{attr.dataset_name} is not a local file (it loads from {attr.load_from})")
    path = Path(dataset_dir) / attr.dataset_name
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValueError(f"{path} holds no data file")
        path = files[0]
    return path


def converted(name: str, dataset_dir: str, data_args, start: int = 0, count: int | None = None
              ) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(dataset attributes, aligned example) for records ``start`` .. ``start + count`` of dataset ``name``."""
    from llamafactory.data.converter import get_dataset_converter
    from llamafactory.data.parser import get_dataset_list

    from medtui.core.data.reader import DatasetReader

    attr = get_dataset_list([name], dataset_dir)[0]
    convert = get_dataset_converter(attr.formatting, attr, data_args)
    records = DatasetReader(data_file(attr, dataset_dir)).iter_records()
    for record in islice(records, start, None if count is None else start + count):
        yield attr, convert(Row(record))
