"""Open the Textual app (the bare ``medtui`` command)."""

from __future__ import annotations

import argparse


def open_tui(args: argparse.Namespace) -> int:
    from medtui.cli.common import workspace_from

    ws = workspace_from(args)
    from medtui.tui.app import MedtuiApp

    app = MedtuiApp(workspace=ws, lang=getattr(args, "lang", None))
    app.run()
    return app.return_code or 0
