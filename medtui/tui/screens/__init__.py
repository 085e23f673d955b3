"""Textual screens; each is ``XScreen(workspace, lang)`` and is wired into the app by medtui.tui.app."""
