"""Incremental readers for a run's logs: ``trainer_log.jsonl`` and plain text logs.

Each reader remembers its offset and returns only what is new. A partial last line waits for
its newline; a file that shrinks or is replaced (new inode) is read again from the start and
the reader's ``reset`` flag tells the caller to drop what it had.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class _Tail:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.offset = 0
        self._inode: tuple[int, int] | None = None
        self._partial = b""
        self.reset = False

    def _read_complete_lines(self) -> list[bytes]:
        self.reset = False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self.offset:
                self._restart()
            return []
        inode = (st.st_dev, st.st_ino)
        if self._inode is not None and (inode != self._inode or st.st_size < self.offset):
            self._restart()
        self._inode = inode
        if st.st_size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        self.offset += len(chunk)
        data = self._partial + chunk if self._partial else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return []
        self._partial = data[cut + 1 :]
        return data[:cut].split(b"\n")

    def _restart(self) -> None:
        self.offset = 0
        self._partial = b""
        self._inode = None
        self.reset = True


class JsonlTail(_Tail):
    """New JSON objects appended to a JSON-lines file. Lines that do not parse are skipped."""

    def read_new(self) -> list[dict[str, Any]]:
        lines = [ln for ln in self._read_complete_lines() if ln.strip()]
        if not lines:
            return []
        try:
            records = json.loads(b"[" + b",".join(lines) + b"]")
        except (json.JSONDecodeError, UnicodeDecodeError):
            records = []
            for line in lines:
                try:
                    records.append(json.loads(line))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
        return [r for r in records if isinstance(r, dict)]


class TextTail(_Tail):
    """New complete lines of a text log, decoded leniently."""

    def read_new(self) -> list[str]:
        return [ln.decode("utf-8", "replace").rstrip("\r") for ln in self._read_complete_lines()]


def parse_hms(text: Any) -> float | None:
    """``"1:02:03"`` or ``"1 day, 2:00:00"`` → seconds."""
    if not isinstance(text, str) or not text:
        return None
    days = 0
    if "day" in text:
        head, _, text = text.partition(",")
        days = int(head.split()[0])
    parts = text.strip().split(":")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        return None
    seconds = 0.0
    for n in nums:
        seconds = seconds * 60 + n
    return days * 86400 + seconds


METRICS = ("loss", "eval_loss", "lr", "reward", "accuracy", "kl", "value_loss")


@dataclass
class Progress:
    """What the monitor and ``medtui train`` show, folded from trainer_log records."""

    steps: int = 0
    total_steps: int = 0
    epoch: float | None = None
    percent: float = 0.0
    elapsed: float | None = None
    eta: float | None = None
    throughput: float | None = None  # tokens per second, when llamafactory counts tokens
    last: dict[str, float] = field(default_factory=dict)
    series: dict[str, tuple[list[float], list[float]]] = field(
        default_factory=lambda: {m: ([], []) for m in METRICS})

    @property
    def steps_per_second(self) -> float | None:
        if self.elapsed and self.steps:
            return self.steps / self.elapsed
        return None

    @property
    def loss(self) -> float | None:
        return self.last.get("loss")

    def add(self, records: list[dict[str, Any]]) -> None:
        for rec in records:
            step = rec.get("current_steps")
            if isinstance(step, (int, float)):
                self.steps = int(step)
            total = rec.get("total_steps")
            if isinstance(total, (int, float)) and total:
                self.total_steps = int(total)
            if "epoch" in rec:
                self.epoch = rec["epoch"]
            if "percentage" in rec:
                self.percent = float(rec["percentage"])
            elapsed = parse_hms(rec.get("elapsed_time"))
            if elapsed is not None:
                self.elapsed = elapsed
            eta = parse_hms(rec.get("remaining_time"))
            if eta is not None:
                self.eta = eta
            if "throughput" in rec:
                self.throughput = rec["throughput"]
            for metric in METRICS:
                value = rec.get(metric)
                if isinstance(value, (int, float)):
                    xs, ys = self.series[metric]
                    xs.append(self.steps)
                    ys.append(float(value))
                    self.last[metric] = float(value)

    def line(self) -> str:
        """A one-line summary for the CLI."""
        parts = [f"step {self.steps}/{self.total_steps or '?'}", f"{self.percent:5.1f}%"]
        for metric in ("loss", "eval_loss", "reward", "kl", "accuracy"):
            if metric in self.last:
                parts.append(f"{metric} {self.last[metric]:.4f}")
        if "lr" in self.last:
            parts.append(f"lr {self.last['lr']:.2e}")
        if self.eta is not None:
            parts.append(f"ETA {format_seconds(self.eta)}")
        if self.throughput:
            parts.append(f"{self.throughput:.0f} tok/s")
        elif self.steps_per_second:
            parts.append(f"{self.steps_per_second:.2f} it/s")
        return "  ".join(parts)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class RunReader:
    """Follows one run's ``trainer_log.jsonl`` and folds it into a :class:`Progress`."""

    def __init__(self, trainer_log: str | os.PathLike):
        self.tail = JsonlTail(trainer_log)
        self.progress = Progress()

    def poll(self) -> list[dict[str, Any]]:
        records = self.tail.read_new()
        if self.tail.reset:
            self.progress = Progress()
        self.progress.add(records)
        return records


def smooth(values: list[float], weight: float | None = None) -> list[float]:
    """Exponential moving average like LlamaBoard's loss plot (weight grows with the length)."""
    if not values:
        return []
    if weight is None:
        import math

        weight = 1.8 * (1 / (1 + math.exp(-0.05 * len(values))) - 0.5)
    out, last = [], values[0]
    for v in values:
        last = last * weight + (1 - weight) * v
        out.append(last)
    return out
