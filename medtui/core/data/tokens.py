"""Token lengths of a dataset's records, measured with a model's tokenizer in a subprocess.

:func:`token_lengths` runs ``python -m medtui.workers.tokens`` (tokenizer libraries are too
heavy for the UI process) and returns its :class:`~medtui.core.data.lengths.LengthCollector`
summary.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from medtui.core.env.child import run_worker
from medtui.core.errors import MedtuiError


def token_lengths(model: str | Path, data: str | Path, entry: dict[str, Any], *, cutoff: int | None = None,
                  eos: bool = False, cancel: threading.Event | None = None, timeout: float = 3600) -> dict | None:
    """Run the measurement in a subprocess; None when cancelled. Raises MedtuiError on failure."""
    argv = [sys.executable, "-m", "medtui.workers.tokens", str(model), str(data),
            json.dumps(entry, ensure_ascii=False)]
    if cutoff is not None:
        argv += ["--cutoff", str(cutoff)]
    if eos:
        argv.append("--eos")
    done = run_worker(argv, what=f"token count of {data}", cancel=cancel, timeout=timeout)
    if done is None:
        return None
    code, out, err = done
    if code != 0:
        message = err.strip().splitlines()
        raise MedtuiError(message[-1] if message else f"token count failed (exit {code})")
    return json.loads(out.strip().splitlines()[-1])
