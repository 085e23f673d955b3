"""Read a few records of a dataset of any size: the first ones, the last ones and some in between.

Pre-flight must stay fast on a 300 MB file, so it does not stream every record. Small files
(below :data:`FULL_BYTES`) are read whole, exactly. Larger ones are sampled:

* the first records, scanned from the start (exact record numbers);
* the end of the file: a JSON array must close with ``]`` (else the file is truncated), and the
  last records are found by decoding a chain of records that ends exactly at that ``]``;
* windows spread evenly between: JSON Lines resynchronise at a newline; in a JSON array a
  window's first ``{`` after a ``,`` that decodes to an object sharing keys with the first
  records, and is followed by ``,`` or ``]``, is taken as a record (nested objects such as chat
  messages share no keys with records, so they are skipped).

Every window is also checked as UTF-8. Errors name the file, line and column, as the full
reader's do. A UTF-8 byte order mark is reported separately (:func:`bom_files`): medtui's
readers skip it, but the ``datasets`` JSON loader that llamafactory uses cannot read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medtui.core.atomic import atomic_write_chunks
from medtui.core.data.files import DataFileError, data_files
from medtui.core.data.reader import RecordFile
from medtui.core.data.scan import BOM, ArrayScanner, JsonlScanner, decode_record, utf8_error, where

#: Files up to this size are read completely (every record decoded): exact and still fast.
FULL_BYTES = 8 << 20
FIRST = 8
LAST = 8
BETWEEN = 48
WINDOW = 64 << 10
MAX_WINDOW = 4 << 20

_DECODER = json.JSONDecoder()
_WS = b" \t\r\n"


@dataclass
class Sample:
    """Records read from a dataset: ``(where, record)`` pairs. ``where`` is the record number when it
    is known, else a label such as ``byte 1048576``. ``complete`` says every record was read."""

    records: list[tuple[int | str, dict[str, Any]]] = field(default_factory=list)
    complete: bool = True
    size: int = 0


def bom_files(path: str | Path) -> list[Path]:
    """The files of a dataset that start with a UTF-8 byte order mark."""
    out = []
    for f in data_files(path):
        with open(f, "rb") as fh:
            if fh.read(3) == BOM:
                out.append(f)
    return out


def strip_bom(path: str | Path) -> list[Path]:
    """Rewrite each file of a dataset that starts with a UTF-8 byte order mark without it (atomically,
    streamed, permissions kept). Returns the files changed."""
    fixed = bom_files(path)
    for f in fixed:
        with open(f, "rb") as fh:
            fh.seek(3)
            atomic_write_chunks(f, iter(lambda fh=fh: fh.read(4 << 20), b""))
    return fixed


def read_sample(path: str | Path, *, first: int = FIRST, last: int = LAST, between: int = BETWEEN,
                full_bytes: int = FULL_BYTES) -> Sample:
    """Records of the dataset at ``path`` (a file or folder); raises DataFileError for a file the
    trainer could not read (bad UTF-8, broken or truncated JSON, a record that is not an object)."""
    files = data_files(path)
    sizes = [f.stat().st_size for f in files]
    sample = Sample(size=sum(sizes))
    if sample.size <= full_bytes:
        base = 0
        for f in files:
            got = _all_records(f)
            sample.records += [(base + i, r) for i, r in enumerate(got)]
            base += len(got)
        return sample
    sample.complete = False
    total = sample.size
    for n, f in enumerate(files):  # every file: its start (structure, first records) and its end
        rf = RecordFile(f)
        kind, start = rf.layout()
        head = _head(f, kind, start, first if n == 0 else 1)
        sample.records += [(i if n == 0 else f"{f.name} record {i}", r) for i, r in enumerate(head)]
        keys = set().union(*(r.keys() for r in head)) if head else set()
        lo = sum(sizes[:n])  # windows in between, spread over the whole dataset by byte position
        for k in range(1, between + 1):
            at = k * total // (between + 1) - lo
            if start < at < sizes[n] - WINDOW:
                got = _window(f, kind, at, keys)
                if got is not None:
                    sample.records.append((_line_label(f, got[0], n > 0), got[1]))
        tail = _tail(f, kind, start, sizes[n], keys)
        sample.records += [(_line_label(f, off, n > 0), r) for off, r in tail[-(last if n == len(files) - 1 else 1):]]
    return sample


def _line_label(f: Path, offset: int, named: bool) -> str:
    return f"{f.name + ' ' if named else ''}byte {offset} ({where(f, offset)})" if offset < (1 << 20) \
        else f"{f.name + ' ' if named else ''}byte {offset}"


def _all_records(f: Path) -> list[dict[str, Any]]:
    rf = RecordFile(f)
    kind, start = rf.layout()
    out = []
    with open(f, "rb") as fh:
        spans = JsonlScanner(f, fh, start) if kind == "jsonl" else ArrayScanner(f, fh, start, after_record=False)
        for s, _e in spans:
            out.append(decode_record(f, spans.last_raw(), s))
    return out


def _head(f: Path, kind: str, start: int, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with open(f, "rb") as fh:
        spans = JsonlScanner(f, fh, start) if kind == "jsonl" else ArrayScanner(f, fh, start, after_record=False)
        for s, _e in spans:
            out.append(decode_record(f, spans.last_raw(), s))
            if len(out) >= n:
                break
    return out


def _read(f: Path, offset: int, size: int) -> bytes:
    with open(f, "rb") as fh:
        fh.seek(offset)
        return fh.read(size)


def _check_utf8(f: Path, offset: int, raw: bytes, *, cut_head: bool, cut_tail: bool) -> None:
    """Raise for invalid UTF-8 in ``raw`` (read at ``offset``); sequences cut by the window's edges pass."""
    lead = 0
    if cut_head:
        while lead < min(3, len(raw)) and 0x80 <= raw[lead] <= 0xBF:
            lead += 1
    try:
        raw[lead:].decode("utf-8")
    except UnicodeDecodeError as exc:
        if cut_tail and exc.reason == "unexpected end of data":
            return
        raise utf8_error(f, offset + lead + exc.start) from None


def _tail(f: Path, kind: str, start: int, size: int, keys: set[str]) -> list[tuple[int, dict[str, Any]]]:
    """The last records of a file, with their byte offsets; raises when the file ends mid-record."""
    window = WINDOW
    while True:
        at = max(start, size - window)
        raw = _read(f, at, size - at)
        _check_utf8(f, at, raw, cut_head=at > start, cut_tail=False)
        body = raw.rstrip(_WS)
        if not body:
            return []
        if kind == "jsonl":
            lines = body.split(b"\n")
            if at > start:
                lines = lines[1:]  # the first one may be cut by the window
            if not lines and window < MAX_WINDOW:
                window *= 4
                continue
            offset, out = at + (len(raw.split(b"\n")[0]) + 1 if at > start else 0), []
            for line in lines:
                if line.strip(_WS):
                    out.append((offset, decode_record(f, line, offset)))
                offset += len(line) + 1
            return out
        if not body.endswith(b"]"):
            raise DataFileError(f"{f}: {where(f, at + len(body))}: the JSON array is not closed (missing ']'); "
                                f"the file looks truncated")
        text = body.decode("latin-1")
        chain = _chain_to_end(text, keys) if at > start else _chain_from(text, 0)
        if chain is not None:
            return [(at + pos, decode_record(f, text[pos:end].encode("latin-1"), at + pos)) for pos, end in chain]
        if at == start:
            # the whole file is in the window and no chain of records reaches the end: locate the error
            with open(f, "rb") as fh:
                for _ in ArrayScanner(f, fh, start, after_record=False):
                    pass
            return []
        if window >= MAX_WINDOW:
            return []  # records larger than the window: the end is closed, the tail is not sampled
        window *= 4


def _chain_from(text: str, pos: int) -> list[tuple[int, int]] | None:
    """Spans of the objects from ``pos`` (``{`` or whitespace) separated by commas up to the final ``]``."""
    spans = []
    n = len(text)
    while True:
        pos = _skip(text, pos)
        if pos < n and text[pos] == "]" and not spans:
            return spans if pos == n - 1 else None
        if pos >= n or text[pos] != "{":
            return None
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        if not isinstance(value, dict):
            return None
        spans.append((pos, end))
        pos = _skip(text, end)
        if pos >= n:
            return None
        if text[pos] == "]":
            return spans if pos == n - 1 else None
        if text[pos] != ",":
            return None
        pos += 1


def _skip(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _candidates(text: str):
    """Positions of ``{`` that follow a ``,`` or ``[`` (whitespace between): where a record may start."""
    pos = text.find("{")
    while pos != -1:
        back = pos - 1
        while back >= 0 and text[back] in " \t\r\n":
            back -= 1
        if back >= 0 and text[back] in ",[":
            yield pos
        pos = text.find("{", pos + 1)


def _chain_to_end(text: str, keys: set[str]) -> list[tuple[int, int]] | None:
    for pos in _candidates(text):
        chain = _chain_from(text, pos)
        if chain and (not keys or keys & _keys(text, chain[0])):
            return chain
    return None


def _keys(text: str, span: tuple[int, int]) -> set[str]:
    try:
        return set(json.loads(text[span[0]:span[1]]))
    except ValueError:
        return set()


def _window(f: Path, kind: str, at: int, keys: set[str]) -> tuple[int, dict[str, Any]] | None:
    """One record found in a window that starts at byte ``at`` (None when none is found)."""
    size = WINDOW
    while size <= MAX_WINDOW:
        raw = _read(f, at, size)
        _check_utf8(f, at, raw, cut_head=True, cut_tail=True)
        if kind == "jsonl":
            nl = raw.find(b"\n")
            end = raw.find(b"\n", nl + 1) if nl != -1 else -1
            if end != -1:
                line = raw[nl + 1:end]
                if not line.strip(_WS):
                    return None
                return at + nl + 1, decode_record(f, line, at + nl + 1)
        else:
            text = raw.decode("latin-1")
            for pos in _candidates(text):
                try:
                    value, end = _DECODER.raw_decode(text, pos)
                except json.JSONDecodeError:
                    continue
                if not isinstance(value, dict):
                    continue
                nxt = _skip(text, end)
                if nxt < len(text) and text[nxt] in ",]" and (not keys or keys & set(value)):
                    return at + pos, decode_record(f, text[pos:end].encode("latin-1"), at + pos)
        size *= 4
    return None
