"""The environment of a child process medtui starts with ``python -m medtui...``.

The run supervisor and every worker (chat, token counts, model check, doctor probe, downloads)
get this process's environment with the folder holding this very copy of medtui first on
``PYTHONPATH``, so the child imports the same code whether medtui is installed, editable or run
from a checkout; optionally the run variables of :mod:`medtui.core.env.runenv` (``USE_TF=0``...),
then the caller's extras.
"""

from __future__ import annotations

import os
from pathlib import Path

from medtui.core.env import runenv

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
