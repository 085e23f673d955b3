"""What a run's ``trainer_log.jsonl`` records add up to (:class:`Progress`), and how medtui writes
durations: plain Python over records already read (:mod:`medtui.core.runs.follow` reads them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


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
    sampled: bool = False  # the history before the last few MB is an even sample, not every line
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
        """Fold records in; cost is a few C-level passes per metric, so a huge backlog stays cheap.

        A step lower than the last one means training resumed from an earlier checkpoint in the
        same folder (the trainer appends to the log): the history rewinds to that step, so the
        charts show one continuous line.
        """
        if not records:
            return
        cut = _rewind_at(records, self.steps)
        if cut is not None:
            self.add(records[:cut])
            self._rewind(int(records[cut]["current_steps"]))
            self.add(records[cut:])
            return
        for metric in METRICS:
            pairs = [(r.get("current_steps", 0), v) for r in records
                     if isinstance(v := r.get(metric), (int, float)) and not isinstance(v, bool)]
            if pairs:
                xs, ys = self.series[metric]
                xs.extend(int(x) for x, _ in pairs)
                ys.extend(float(y) for _, y in pairs)
                self.last[metric] = float(pairs[-1][1])
        last = _latest(records, "current_steps")
        if isinstance(last, (int, float)):
            self.steps = int(last)
        total = _latest(records, "total_steps")
        if isinstance(total, (int, float)) and total:
            self.total_steps = int(total)
        for key, attr in (("epoch", "epoch"), ("throughput", "throughput")):
            value = _latest(records, key)
            if value is not None:
                setattr(self, attr, value)
        percent = _latest(records, "percentage")
        if percent is not None:
            self.percent = float(percent)
        elapsed = parse_hms(_latest(records, "elapsed_time"))
        if elapsed is not None:
            self.elapsed = elapsed
        eta = parse_hms(_latest(records, "remaining_time"))
        if eta is not None:
            self.eta = eta

    def _rewind(self, step: int) -> None:
        import bisect

        for xs, ys in self.series.values():
            k = bisect.bisect_left(xs, step)
            del xs[k:], ys[k:]
        self.steps = step - 1

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


def _rewind_at(records: list[dict[str, Any]], steps: int) -> int | None:
    """Index of the first record whose step goes back below the one before it (None: none does)."""
    prev = steps
    for i, record in enumerate(records):
        step = record.get("current_steps")
        if isinstance(step, int):
            if step < prev:
                return i
            prev = step
    return None


def _latest(records: list[dict[str, Any]], key: str) -> Any:
    for record in reversed(records):
        if key in record:
            return record[key]
    return None


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_age(seconds: float | None) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: how long ago, coarse on purpose."""
    if seconds is None:
        return "?"
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def smooth(values: list[float], weight: float | None = None) -> list[float]:
    """Exponential moving average like LlamaBoard's loss plot (weight grows with the length)."""
    if not values:
        return []
    if weight is None:
        weight = 1.8 * (1 / (1 + math.exp(-0.05 * len(values))) - 0.5)
    out, last = [], values[0]
    for v in values:
        last = last * weight + (1 - weight) * v
        out.append(last)
    return out
