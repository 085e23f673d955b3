"""The app's footer: ``? Keys`` first (so it shows at any width), then the screen's own keys, then the app's.

Compact; the command-palette hint only where there is room for it. Textual's footer rebuilds its keys
after every change of the bindings (6 times while Home opens, 10 for Environment); this one waits
for the screen's first frame, then rebuilds once for all the changes made before the rebuild runs.
"""

from __future__ import annotations

import time

from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE_MIN_WIDTH = 100
#: A rebuild asked for this long ago and not started is taken as lost (Textual runs it on whatever
#: screen is current when it is handled; a dialog that closes at once takes it along).
LOST_AFTER = 1.0


class MedtuiFooter(Footer):
    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)
        self._painted = False  # the screen has shown its first frame
        self._rebuild_asked: float | None = None  # when a rebuild not started yet was asked for

    def on_mount(self) -> None:
        super().on_mount()
        self.call_after_refresh(self._first_frame_shown)

    def _first_frame_shown(self) -> None:
        self._painted = True
        if self._rebuild_asked is not None:
            self._rebuild_asked = None
            self.call_later(self.recompose)

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if self._rebuild_asked is not None and time.monotonic() - self._rebuild_asked < LOST_AFTER:
            return  # the rebuild asked for will show this change too
        self._rebuild_asked = time.monotonic()
        if self._painted and not self.call_after_refresh(self._rebuild):
            self._rebuild_asked = None

    async def _rebuild(self) -> None:
        self._rebuild_asked = None  # a change from now on asks for another rebuild
        await self.recompose()

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        keys.sort(key=lambda widget: getattr(widget, "action", None) != "help")  # stable: the rest keep order
        for key in keys:
            if self.compact and isinstance(key, FooterKey):
                # Each key's compact watcher adds this class once mounted, which restyles the key: a
                # fifth of the CPU of a focus change on a form. Set before mounting, it restyles nothing.
                key.add_class("-compact", update=False)
        yield from keys

    def on_resize(self, event: events.Resize) -> None:
        wide = event.size.width >= PALETTE_MIN_WIDTH
        if wide != self.show_command_palette:
            self.show_command_palette = wide
