"""Token lengths of a dataset's records, measured with a model's tokenizer in a subprocess.

:func:`token_lengths` runs ``python -m medtui.workers.tokens`` (tokenizer libraries are too
heavy for the UI process) and returns its :class:`~medtui.core.data.lengths.LengthCollector`
summary.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from medtui.core.env.child import child_env
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
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                            env=child_env(run_env=True))
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                    proc.kill()
                    proc.communicate()
                    if cancel is not None and cancel.is_set():
                        return None
                    raise MedtuiError(f"token count of {data} took longer than {timeout:.0f} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode != 0:
        message = (err or "").strip().splitlines()
        raise MedtuiError(message[-1] if message else f"token count failed (exit {proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])
