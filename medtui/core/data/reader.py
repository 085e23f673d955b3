"""Paged reading of a dataset of any size: a ``.json`` array, a ``.jsonl`` file, or a folder of them.

A :class:`RecordFile` keeps a checkpoint index (the byte offset of every ``STRIDE``-th record),
built incrementally as pages are asked for or in a background count, and optionally cached on
disk keyed by the file's size and mtime. A page deep into the file seeks to the nearest
checkpoint instead of re-reading from the start. Full passes (validation, statistics) stream
with ijson. Nothing ever loads the whole file.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from medtui.core.atomic import atomic_write_text
from medtui.core.data.files import DataFileError, data_files
from medtui.core.data.scan import BOM, ArrayScanner, JsonlScanner, decode_record, first_bad_utf8, utf8_error, where

STRIDE = 128
#: Records scanned per slice while holding the file's lock, so page reads interleave with counting.
SLICE = 16384
#: Files smaller than this are quick to rescan; their index is not cached on disk.
CACHE_MIN_BYTES = 1 << 20

Progress = Callable[[int, int], None]


@dataclass
class _Index:
    stamp: tuple[int, int]
    start: int  # byte offset where the first record may begin
    offsets: array = field(default_factory=lambda: array("q"))
    scanned: int = 0
    resume: int = 0  # byte offset just past the last scanned record
    complete: bool = False


class RecordFile:
    """One ``.json`` (array, or JSON Lines content) or ``.jsonl`` file, read by record number."""

    def __init__(self, path: str | Path, cache_dir: str | Path | None = None):
        self.path = Path(path)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._lock = threading.RLock()
        self._index: _Index | None = None
        self._kind: str | None = None
        self._scan: Iterator[tuple[int, int]] | None = None
        self._saved_at = 0

    # -- layout ------------------------------------------------------------------------
    def _stamp(self) -> tuple[int, int]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise DataFileError(f"{self.path}: file not found") from None
        return st.st_size, st.st_mtime_ns

    @property
    def size(self) -> int:
        return self._stamp()[0]

    def layout(self) -> tuple[str, int]:
        """``("array" | "jsonl", offset of the first record)``; raises for an unusable file."""
        if self.path.stat().st_size == 0:
            raise DataFileError(f"{self.path}: the file is empty")
        with open(self.path, "rb") as fh:
            head = fh.read(1 << 16)
            skip = 3 if head.startswith(BOM) else 0
            pos = skip
            while True:
                stripped = head[pos:].lstrip(b" \t\r\n")
                if stripped:
                    pos = len(head) - len(stripped)
                    break
                more = fh.read(1 << 20)
                if not more:
                    raise DataFileError(f"{self.path}: the file is empty (only whitespace)")
                pos, head = len(head), head + more
            first = head[pos:pos + 1]
            if self.path.suffix.lower() == ".jsonl":
                return "jsonl", skip
            if first == b"[":
                return "array", pos + 1
            if first == b"{":
                fh.seek(pos)
                line = fh.readline(1 << 24)
                try:
                    is_record = isinstance(json.loads(line.decode("utf-8")), dict)
                except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                    is_record = False
                if is_record and line.endswith(b"\n") and fh.read(1 << 16).strip():
                    return "jsonl", skip  # JSON Lines content in a .json file (llamafactory reads it too)
                raise DataFileError(f"{self.path}: {where(self.path, pos)}: expected a JSON array of records "
                                    f"([{{...}}, ...]), found an object{self._keys_hint(line)}")
        if first_bad_utf8(self.path) is not None and first[0] >= 0x80:
            raise utf8_error(self.path, pos)
        raise DataFileError(f"{self.path}: {where(self.path, pos)}: invalid JSON: expected '[' "
                            f"(a JSON array of records)")

    @staticmethod
    def _keys_hint(line: bytes) -> str:
        try:
            keys = list(json.loads(line.decode("utf-8")))
        except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
            return ""
        return f" with keys {', '.join(keys[:5])}" if keys else ""

    def kind(self) -> str:
        if self._kind is None:
            self._kind = self.layout()[0]
        return self._kind

    # -- index -------------------------------------------------------------------------
    def _cache_file(self) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha1(str(self.path.resolve()).encode("utf-8")).hexdigest()[:24]
        return self.cache_dir / f"{key}.json"

    def _current(self) -> _Index:
        stamp = self._stamp()
        if self._index is not None and self._index.stamp == stamp:
            return self._index
        self._scan = None
        self._kind = None
        cached = self._load_cache(stamp)
        if cached is not None:
            self._index = cached
        else:
            kind, start = self.layout()
            self._kind = kind
            self._index = _Index(stamp=stamp, start=start, resume=start)
        self._saved_at = self._index.scanned
        return self._index

    def _load_cache(self, stamp: tuple[int, int]) -> _Index | None:
        file = self._cache_file()
        if file is None or not file.is_file():
            return None
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            if data.get("path") != str(self.path.resolve()) or tuple(data["stamp"]) != stamp \
                    or data.get("stride") != STRIDE:
                return None
            self._kind = data["kind"]
            return _Index(stamp=stamp, start=int(data["start"]), offsets=array("q", data["offsets"]),
                          scanned=int(data["scanned"]), resume=int(data["resume"]), complete=bool(data["complete"]))
        except (ValueError, KeyError, TypeError, OSError, RecursionError):
            return None

    def _save_cache(self) -> None:
        file, idx = self._cache_file(), self._index
        if file is None or idx is None or idx.stamp[0] < CACHE_MIN_BYTES:
            return
        if idx.scanned - self._saved_at < 4 * STRIDE and not idx.complete:
            return
        if idx.scanned == self._saved_at:
            return
        data = {"path": str(self.path.resolve()), "stamp": list(idx.stamp), "stride": STRIDE, "kind": self._kind,
                "start": idx.start, "offsets": idx.offsets.tolist(), "scanned": idx.scanned,
                "resume": idx.resume, "complete": idx.complete}
        try:
            atomic_write_text(file, json.dumps(data))
            self._saved_at = idx.scanned
        except OSError:
            pass  # the cache is an optimisation only

    def _spans(self, fh, offset: int, *, after_record: bool, first_index: int):
        if self.kind() == "jsonl":
            return JsonlScanner(self.path, fh, offset)
        return ArrayScanner(self.path, fh, offset, after_record=after_record, first_index=first_index)

    def _resume_scan(self, idx: _Index) -> Iterator[tuple[int, int]]:
        with open(self.path, "rb") as fh:
            yield from self._spans(fh, idx.resume, after_record=idx.scanned > 0, first_index=idx.scanned)

    def ensure(self, n: float, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> int:
        """Index at least ``n`` records (``math.inf``: all); returns how many are indexed."""
        while True:
            with self._lock:
                idx = self._current()
                if idx.complete or idx.scanned >= n:
                    self._save_cache()
                    return idx.scanned
                if self._scan is None:
                    self._scan = self._resume_scan(idx)
                budget = SLICE
                try:
                    for start, end in self._scan:
                        if idx.scanned % STRIDE == 0:
                            idx.offsets.append(start)
                        idx.scanned += 1
                        idx.resume = end
                        budget -= 1
                        if idx.scanned >= n or budget == 0:
                            break
                    else:
                        idx.complete = True
                        self._scan = None
                except DataFileError:
                    self._scan = None
                    raise
                if progress is not None:
                    progress(idx.scanned, idx.resume)
            if cancel is not None and cancel.is_set():
                with self._lock:
                    self._save_cache()
                return idx.scanned

    def count(self, progress: Progress | None = None, cancel: threading.Event | None = None) -> int | None:
        """The number of records (scans the rest of the file); None when cancelled first."""
        n = self.ensure(math.inf, progress, cancel)
        return n if self.known_count() is not None else None

    def known_count(self) -> int | None:
        idx = self._index
        return idx.scanned if idx is not None and idx.complete and idx.stamp == self._stamp() else None

    # -- reading -----------------------------------------------------------------------
    def read(self, start: int, count: int) -> list[dict[str, Any]]:
        """Records ``start`` .. ``start + count - 1`` (fewer at the end of the file)."""
        if count <= 0 or start < 0:
            return []
        if self.ensure(start + 1) <= start:
            return []
        idx = self._index
        k = start // STRIDE
        out: list[dict[str, Any]] = []
        with open(self.path, "rb") as fh:
            spans = self._spans(fh, idx.offsets[k], after_record=False, first_index=k * STRIDE)
            for i, (s, _e) in enumerate(spans, start=k * STRIDE):
                if i < start:
                    continue
                out.append(decode_record(self.path, spans.last_raw(), s))
                if len(out) >= count:
                    break
        return out

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Every record in order, streamed."""
        kind, start = self.layout()
        if kind == "jsonl":
            with open(self.path, "rb") as fh:
                spans = JsonlScanner(self.path, fh, start)
                for s, _e in spans:
                    yield decode_record(self.path, spans.last_raw(), s)
            return
        yield from self._iter_array(start)

    def _iter_array(self, start: int) -> Iterator[dict[str, Any]]:
        import ijson

        with open(self.path, "rb") as fh:
            fh.seek(start - 1)
            try:
                for record in ijson.items(fh, "item", use_float=True):
                    if not isinstance(record, dict):
                        raise self._locate_error()
                    yield record
            except (ijson.JSONError, UnicodeDecodeError):
                raise self._locate_error() from None

    def _locate_error(self) -> DataFileError:
        """Re-scan to name the line and column of an error the streaming parser hit."""
        bad = first_bad_utf8(self.path)
        if bad is not None:
            return utf8_error(self.path, bad)
        _kind, start = self.layout()
        try:
            with open(self.path, "rb") as fh:
                for _ in ArrayScanner(self.path, fh, start, after_record=False):
                    pass
        except DataFileError as exc:
            return exc
        return DataFileError(f"{self.path}: invalid JSON")


class DatasetReader:
    """A dataset path (file or folder) read as one sequence of records."""

    def __init__(self, path: str | Path, cache_dir: str | Path | None = None):
        self.path = Path(path)
        self.files = [RecordFile(f, cache_dir) for f in data_files(self.path)]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def count(self, progress: Progress | None = None, cancel: threading.Event | None = None) -> int | None:
        total = 0
        for f in self.files:
            n = f.count(progress, cancel)
            if n is None:
                return None
            total += n
        return total

    def known_count(self) -> int | None:
        counts = [f.known_count() for f in self.files]
        return None if None in counts else sum(counts)

    def page(self, start: int, count: int) -> list[tuple[int, dict[str, Any]]]:
        """``(record number, record)`` pairs from ``start``; empty past the end."""
        out: list[tuple[int, dict[str, Any]]] = []
        pos, base = max(0, start), 0
        for f in self.files:
            got = f.read(pos - base, count - len(out))
            out.extend((pos + j, r) for j, r in enumerate(got))
            pos += len(got)
            if len(out) >= count:
                break
            base += f.count()
        return out

    def iter_records(self) -> Iterator[dict[str, Any]]:
        for f in self.files:
            yield from f.iter_records()

    def head(self, n: int = 5) -> list[dict[str, Any]]:
        return [r for _, r in self.page(0, n)]


def iter_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream every record of a dataset file or folder."""
    yield from DatasetReader(path).iter_records()


def head(path: str | Path, n: int = 5) -> list[dict[str, Any]]:
    """The first ``n`` records, read without scanning the rest of the file."""
    return DatasetReader(path).head(n)


def count_records(path: str | Path) -> int:
    """The number of records (indexes the file's record boundaries; records are not decoded)."""
    return DatasetReader(path).count() or 0
