"""The app's footer: ``? Keys`` first (so it shows at any width), then the screen's own keys, then the app's.

Compact; the command-palette hint only where there is room for it.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer

PALETTE_MIN_WIDTH = 100


class MedtuiFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        keys.sort(key=lambda widget: getattr(widget, "action", None) != "help")  # stable: the rest keep order
        yield from keys

    def on_resize(self, event: events.Resize) -> None:
        wide = event.size.width >= PALETTE_MIN_WIDTH
        if wide != self.show_command_palette:
            self.show_command_palette = wide
