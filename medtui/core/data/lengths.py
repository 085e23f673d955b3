"""Length distributions of a dataset's fields: in characters (in process) or tokens (see tokens.py)."""

from __future__ import annotations

import math
from array import array
from typing import Any

from medtui.core.data.columns import record_length

FIRST = 10  # offending record numbers kept per finding


class LengthCollector:
    """Collects per-role and per-record lengths; counts records over a cutoff."""

    def __init__(self, cutoff: int | None = None):
        self.cutoff = cutoff
        self.values: dict[str, array] = {}
        self.records = 0
        self.total = 0
        self.over_count = 0
        self.over_first: list[int] = []

    def add(self, index: int, lengths: dict[str, int]) -> None:
        for role, n in lengths.items():
            self.values.setdefault(role, array("l")).append(n)
        n = record_length(lengths)
        self.values.setdefault("record", array("l")).append(n)
        self.records += 1
        self.total += n
        if self.cutoff is not None and n > self.cutoff:
            self.over_count += 1
            if len(self.over_first) < FIRST:
                self.over_first.append(index)

    def summary(self, bins: int = 20) -> dict[str, Any]:
        fields = {role: describe(vals, bins) for role, vals in self.values.items()}
        fields.setdefault("record", describe([], bins))  # an empty dataset still has a record row
        return {"records": self.records, "total": self.total, "cutoff": self.cutoff,
                "over": {"count": self.over_count, "first": self.over_first}, "fields": fields}


def describe(values: array | list[int], bins: int = 20) -> dict[str, Any]:
    """count, min, max, mean, median, p95 and a histogram (``edges`` has ``len(counts) + 1`` items)."""
    if not values:
        return {"count": 0, "min": 0, "max": 0, "mean": 0.0, "median": 0, "p95": 0, "edges": [0, 1], "counts": [0]}
    ordered = sorted(values)
    n = len(ordered)
    lo, hi = ordered[0], ordered[-1]
    width = max(1, math.ceil((hi - lo + 1) / bins))
    count = max(1, math.ceil((hi - lo + 1) / width))
    counts = [0] * count
    for v in ordered:
        counts[min(count - 1, (v - lo) // width)] += 1
    return {"count": n, "min": lo, "max": hi, "mean": round(sum(ordered) / n, 1),
            "median": ordered[n // 2], "p95": ordered[min(n - 1, math.ceil(0.95 * n) - 1)],
            "edges": [lo + i * width for i in range(count + 1)], "counts": counts}
