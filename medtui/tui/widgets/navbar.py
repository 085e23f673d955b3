"""The top line of every top-level screen: its F-key tabs, the current one lit.

The keys shown are the ones in effect (a user's keymap included); a click on a tab goes there.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from medtui.tui import keymap
from medtui.tui.i18n import t
from medtui.tui.navigation import DESTINATIONS


class NavBar(Widget):
    """``NavBar(current)``: the tabs of the app's top-level screens; ``current`` is lit."""

    DEFAULT_CSS = """
    NavBar { height: 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, current: str, lang: str) -> None:
        super().__init__()
        self.current = current
        self.lang = lang

    def on_mount(self) -> None:
        self.display = hasattr(self.app, "action_go")  # a screen shown alone (medtui chat MODEL) has no tabs

    def set_lang(self, lang: str) -> None:
        self.lang = lang
        self.refresh()

    def _key(self, binding_id: str) -> str:
        keys = getattr(self.app, "_keymap", {}).get(binding_id) or keymap.KEYS[binding_id]
        return self.app.get_key_display(Binding(keys.split(",")[0], ""))

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        for dest in DESTINATIONS:
            binding_id = f"nav.{dest.name}"
            current = dest.name == self.current
            style = Style(bold=True, reverse=True) if current else Style()
            # "▸" marks the current tab in text too (terminals without colour, screen readers, capture-pane)
            out.append(f"{'▸' if current else ' '}{self._key(binding_id)} ", style=style + Style(bold=True) + Style(meta={
                "@click": f"app.go('{dest.name}')"}))
            out.append(f"{t(binding_id, self.lang)} ", style=style + Style(meta={"@click": f"app.go('{dest.name}')"}))
        return out
