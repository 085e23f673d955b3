"""Dataset statistics: record count and field length distributions in characters and tokens."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from medtui.core.data.columns import record_texts
from medtui.core.data.lengths import LengthCollector
from medtui.core.data.reader import DatasetReader
from medtui.core.data.tokens import token_lengths


def char_lengths(path: str | Path, entry: dict[str, Any], *, cancel: threading.Event | None = None,
                 progress: Callable[[int], None] | None = None) -> dict[str, Any] | None:
    """Length summary in characters of each role (prompt, response, ...) and of whole records."""
    collector = LengthCollector()
    for index, record in enumerate(DatasetReader(path).iter_records()):
        collector.add(index, {role: len(text) for role, text in record_texts(entry, record).items()})
        if index % 4096 == 0:
            if cancel is not None and cancel.is_set():
                return None
            if progress is not None:
                progress(index)
    return collector.summary()


def dataset_stats(path: str | Path, entry: dict[str, Any], *, model: str | None = None,
                  cancel: threading.Event | None = None, progress: Callable[[int], None] | None = None,
                  token_runner: Callable[..., dict | None] | None = None) -> dict[str, Any] | None:
    """``{"records", "chars", "tokens"}``; tokens is None without a model. None when cancelled."""
    chars = char_lengths(path, entry, cancel=cancel, progress=progress)
    if chars is None:
        return None
    tokens = None
    if model:
        tokens = (token_runner or token_lengths)(model, path, entry, cancel=cancel)
        if tokens is None:
            return None
    return {"records": chars["records"], "chars": chars, "tokens": tokens}


def format_stats(stats: dict[str, Any], lang: str = "en") -> list[str]:
    """Plain-text lines: a small table per unit (characters, tokens), one row per role."""
    zh = lang == "zh"
    lines = [f"{'记录数' if zh else 'records'}: {stats['records']}"]
    units = (("chars", "字符" if zh else "characters"), ("tokens", "token" if zh else "tokens"))
    for key, title in units:
        summary = stats.get(key)
        if not summary:
            continue
        head = ("中位数", "均值") if zh else ("median", "mean")
        lines.append(f"{title:<9}{'min':>6}{head[0]:>7}{'p95':>7}{'max':>7}{head[1]:>8}")
        for role, d in summary["fields"].items():
            lines.append(f"  {role:<7}{d['min']:>6}{d['median']:>7}{d['p95']:>7}{d['max']:>7}{d['mean']:>8}")
    return lines
