"""Find records in a data file as byte spans, without building the whole file in memory.

Two scanners share one contract: start at a byte offset, yield ``(start, end)`` byte spans of
records. The JSON-array scanner decodes chunks as Latin-1, where one character is one byte, so
the stdlib's C decoder (``raw_decode``) reports byte offsets directly; every JSON structural
character is ASCII, so multi-byte UTF-8 text cannot confuse it. Records are decoded properly
(UTF-8) only when a page needs them. Errors name the file, line and column.
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path
from typing import BinaryIO, Iterator

from medtui.core.data.files import DataFileError

CHUNK = 4 << 20
#: The first read is small, so a first page costs little; each further read doubles up to CHUNK.
FIRST_CHUNK = 64 << 10
#: A record larger than this is reported instead of buffered (it is almost surely a broken string).
MAX_RECORD = 64 << 20
BOM = b"\xef\xbb\xbf"

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_LINE = re.compile(rb"[^ \t\n\r\f\v][^\n]*")


def line_col(path: Path, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset, counted by streaming the file."""
    line, last_nl, pos = 1, -1, 0
    with open(path, "rb") as fh:
        while pos < offset:
            chunk = fh.read(min(CHUNK, offset - pos))
            if not chunk:
                break
            n = chunk.count(b"\n")
            if n:
                line += n
                last_nl = pos + chunk.rfind(b"\n")
            pos += len(chunk)
        fh.seek(last_nl + 1)
        prefix = fh.read(max(0, offset - last_nl - 1))
    if last_nl < 0 and prefix.startswith(BOM):
        prefix = prefix[3:]
    return line, len(prefix.decode("utf-8", errors="replace")) + 1


def where(path: Path, offset: int) -> str:
    line, col = line_col(path, offset)
    return f"line {line}, column {col}"


def first_bad_utf8(path: Path) -> int | None:
    """Byte offset of the first invalid UTF-8 sequence, or None when the file is valid UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    base = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:  # positions count the bytes held back from the last chunk
                return base - pending + exc.start
            if not chunk:
                return None
            base += len(chunk)


def utf8_error(path: Path, offset: int) -> DataFileError:
    return DataFileError(f"{path}: {where(path, offset)}: not UTF-8 text (byte {offset}); save the file as UTF-8")


def decode_record(path: Path, raw: bytes, offset: int) -> dict:
    """Decode one record's bytes (UTF-8) found at ``offset``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise utf8_error(path, offset + exc.start) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        pos = offset + len(text[: exc.pos].encode("utf-8"))
        raise DataFileError(f"{path}: {where(path, pos)}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise DataFileError(f"{path}: {where(path, offset)}: the record is nested too deeply to read") from None
    if not isinstance(value, dict):
        raise DataFileError(f"{path}: {where(path, offset)}: expected a JSON object, found {_kind(value)}")
    return value


def _kind(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null", dict: "an object"}.get(
        type(value), "a number")


class ArrayScanner:
    """Yields the byte spans of a JSON array's records, from the array start or from a record boundary.

    ``after_record`` says the offset is just past a record (a ',' or ']' comes next); otherwise a
    record or ']' comes next. :attr:`closed` turns true at the closing bracket.
    """

    def __init__(self, path: Path, fh: BinaryIO, offset: int, *, after_record: bool, first_index: int = 0):
        self.path, self.fh = path, fh
        self.base, self.buf, self.pos, self.eof = offset, "", 0, False
        self.chunk = min(FIRST_CHUNK, CHUNK)
        self.after_record = after_record
        self.index = first_index
        self.closed = False
        fh.seek(offset)

    def _fill(self) -> None:
        more = self.fh.read(self.chunk)
        self.chunk = min(self.chunk * 2, CHUNK)
        if not more:
            self.eof = True
        self.buf = self.buf[self.pos:] + more.decode("latin-1")
        self.base += self.pos
        self.pos = 0

    def _fail(self, offset: int, message: str) -> DataFileError:
        return DataFileError(f"{self.path}: {where(self.path, offset)}: {message}")

    def __iter__(self) -> Iterator[tuple[int, int]]:
        after_comma = False
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos >= len(self.buf):
                if self.eof:
                    raise self._fail(self.base + self.pos, "the JSON array is not closed (missing ']')")
                self._fill()
                continue
            ch = self.buf[self.pos]
            if ch == "]" and not after_comma:
                self.closed = True
                self._check_trailing(self.base + self.pos + 1)
                return
            if self.after_record:
                if ch != ",":
                    raise self._fail(self.base + self.pos, f"invalid JSON: expected ',' or ']' after record "
                                                           f"{self.index - 1}")
                self.pos += 1
                self.after_record, after_comma = False, True
                continue
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                truncated = exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - 64
                if truncated and not self.eof:
                    if len(self.buf) - self.pos > MAX_RECORD:
                        raise self._fail(self.base + self.pos, f"record {self.index} is larger than "
                                                               f"{MAX_RECORD >> 20} MB or never ends") from None
                    self._fill()
                    continue
                raise self._fail(self.base + exc.pos, f"invalid JSON: {exc.msg}") from None
            except RecursionError:
                raise self._fail(self.base + self.pos, f"record {self.index} is nested too deeply to read") from None
            if end >= len(self.buf) and not self.eof and not isinstance(value, (dict, list, str)):
                self._fill()  # a number or literal cut by the chunk boundary; read on
                continue
            if not isinstance(value, dict):
                raise self._fail(self.base + self.pos, f"record {self.index}: expected a JSON object, "
                                                       f"found {_kind(value)}")
            self._last = (self.pos, end)
            yield self.base + self.pos, self.base + end
            self.index += 1
            self.pos = end
            self.after_record, after_comma = True, False

    def last_raw(self) -> bytes:
        """The bytes of the record just yielded."""
        start, end = self._last
        return self.buf[start:end].encode("latin-1")

    def _check_trailing(self, offset: int) -> None:
        self.fh.seek(offset)
        while True:
            chunk = self.fh.read(1 << 16)
            if not chunk:
                return
            stripped = chunk.lstrip(b" \t\r\n")
            if stripped:
                bad = offset + len(chunk) - len(stripped)
                raise self._fail(bad, "invalid JSON: extra data after the closing ']'")
            offset += len(chunk)


class JsonlScanner:
    """Yields the byte spans of the non-blank lines of a JSON Lines file, from a line start."""

    def __init__(self, path: Path, fh: BinaryIO, offset: int):
        self.path, self.fh, self.offset = path, fh, offset
        self._raw = b""

    def last_raw(self) -> bytes:
        return self._raw

    def __iter__(self) -> Iterator[tuple[int, int]]:
        self.fh.seek(self.offset)
        base, rest, size = self.offset, b"", min(FIRST_CHUNK, CHUNK)
        while True:
            chunk = self.fh.read(size)
            size = min(size * 2, CHUNK)
            data = rest + chunk
            cut = len(data) if not chunk else data.rfind(b"\n") + 1
            if cut == 0 and chunk:
                if len(data) > MAX_RECORD:
                    raise DataFileError(f"{self.path}: {where(self.path, base)}: a line is longer than "
                                        f"{MAX_RECORD >> 20} MB")
                rest = data
                continue
            for match in _LINE.finditer(data, 0, cut):
                self._raw = match.group()
                yield base + match.start(), base + match.end()
            if not chunk:
                return
            base += cut
            rest = data[cut:]
