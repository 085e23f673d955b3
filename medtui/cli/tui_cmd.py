"""Open the Textual app (the bare ``medtui`` command)."""

from __future__ import annotations

import argparse
import gc
from pathlib import Path


def choose_workspace(args: argparse.Namespace, last: str | None):
    """The workspace to open: ``--demo`` / ``--workspace``, else the current folder, else the last one.

    The current folder wins when it looks like a workspace (has ``data/``); otherwise the workspace
    medtui had open last time is reopened, if it still exists.
    """
    from medtui.cli.common import workspace_from
    from medtui.core.workspace import Workspace

    explicit = getattr(args, "demo", False) or getattr(args, "workspace", None) is not None
    ws = workspace_from(args)
    if explicit or ws.data_dir.is_dir() or not last or not Path(last, "data").is_dir():
        return ws
    return Workspace.open(last)


def open_tui(args: argparse.Namespace) -> int:
    """Run the app. Start-up makes many objects that live as long as the app, so the cyclic garbage
    collector pauses until the first frame is shown (the app turns it back on then): a fifth faster."""
    gc.disable()
    try:
        from medtui.core.settings import load_settings

        ws = choose_workspace(args, load_settings().last_workspace)
        from medtui.tui.app import MedtuiApp

        app = MedtuiApp(workspace=ws, lang=getattr(args, "lang", None))
        app.run()
    finally:
        gc.enable()
    return app.return_code or 0
