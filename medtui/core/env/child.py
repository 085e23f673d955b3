"""The environment of a child process medtui starts with ``python -m medtui...``.

The run supervisor and every worker (chat, token counts, model check, doctor probe, downloads)
get this process's environment with the folder holding this very copy of medtui first on
``PYTHONPATH``, so the child imports the same code whether medtui is installed, editable or run
from a checkout; optionally the run variables of :mod:`medtui.core.env.runenv` (``USE_TF=0``...),
then the caller's extras.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from medtui.core.env import runenv
from medtui.core.errors import MedtuiError

#: The folder that holds the ``medtui`` package this process imported.
PACKAGE_PARENT = str(Path(__file__).resolve().parents[3])


def child_env(*, run_env: bool = False, ws=None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a medtui child; ``run_env`` adds the user's (and ``ws``'s) run variables."""
    env = dict(os.environ)
    if run_env:
        env.update(runenv.load(ws))
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if PACKAGE_PARENT not in parts:
        env["PYTHONPATH"] = os.pathsep.join([PACKAGE_PARENT, *parts])
    env.update(extra or {})
    return env


def run_worker(argv: list[str], *, what: str, cancel=None, timeout: float = 3600,
               env: dict[str, str] | None = None) -> tuple[int, str, str] | None:
    """Run a worker to its end: (exit status, stdout, stderr), or None when ``cancel`` (a
    ``threading.Event``) is set first. Past ``timeout`` seconds it is killed and a MedtuiError says
    that ``what`` took too long."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                            env=env if env is not None else child_env(run_env=True))
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=0.2)
                return proc.returncode, out or "", err or ""
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    return None
                if time.monotonic() > deadline:
                    raise MedtuiError(f"{what} took longer than {timeout:.0f} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
