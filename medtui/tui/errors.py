"""The UI's one error path: a worker that fails ends in a notification, a log line and a usable screen.

:func:`report` is called by the app for every thread worker that ends in an error (and by pollers
that catch their own): it notifies the error's one-line reason, appends the traceback to
``<workspace>/.medtui/ui.log``, and calls ``worker_failed(group, error)`` on the worker's node and
its ancestors that define it, so a screen can clear "starting" and re-enable its buttons.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from medtui.core.errors import MedtuiError

LOG_NAME = "ui.log"
LOG_LIMIT = 1_000_000  # bytes; a bigger log starts afresh (the newest errors matter)


def one_line(error: BaseException) -> str:
    """The error's reason on one line (its type too, unless it is one of medtui's own messages)."""
    text = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, MedtuiError):
        text = f"{type(error).__name__}: {text}"
    return text if len(text) <= 200 else text[:199] + "…"


def log_error(state_dir: Path, where: str, error: BaseException) -> Path | None:
    """Append ``error`` with its traceback to ``state_dir/ui.log``; None when the log cannot be written."""
    path = state_dir / LOG_NAME
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > LOG_LIMIT:
            path.unlink()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {where}: {one_line(error)}\n{trace}\n")
    except OSError:
        return None
    return path


def report(app: Any, node: Any, group: str, error: BaseException) -> None:
    """Notify, log and let ``node`` (and its ancestors) recover from ``error`` in worker ``group``."""
    screen = getattr(node, "screen", None) if node is not app else None
    where = f"{type(screen).__name__ if screen is not None else 'app'}/{group or 'worker'}"
    workspace = getattr(app, "workspace", None)
    logged = log_error(workspace.state_dir, where, error) if workspace is not None else None
    message = one_line(error)
    if logged is not None:
        message += f"\n({workspace.relative(logged)})"
    app.notify(message, title=where, severity="error", timeout=12)
    for target in [node, *getattr(node, "ancestors", [])]:
        recover = getattr(target, "worker_failed", None)
        if callable(recover):
            recover(group, error)
