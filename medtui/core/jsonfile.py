"""Reading small JSON files that hold one object: the result files a run leaves behind
(``predict_results.json``, ``eval_results.json``, ``bench_results.json``) and medtui's own
settings files (notifications, run environment, Slurm profile)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from medtui.core.errors import MedtuiError


def read_object(path: str | os.PathLike) -> dict[str, Any]:
    """The file's JSON object; {} when the file is not there (yet). An unreadable file, invalid JSON or
    JSON that is not an object is a :class:`MedtuiError` naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise MedtuiError(f"{path}: not a valid JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise MedtuiError(f"{path}: expected a JSON object")
    return data


def numbers(data: dict[str, Any], prefix: str) -> dict[str, float]:
    """The numeric entries of ``data``, with ``prefix`` taken off their names."""
    return {k.removeprefix(prefix): v for k, v in data.items() if isinstance(v, (int, float))}
