"""The ``?`` overlay: every key active on the screen below it, its own first, then the app's."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from medtui.tui.keymap import KEYS, bind
from medtui.tui.screens.base import MedtuiModal


def active_keys(screen, app) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(key shown, binding id) pairs active on ``screen``: the screen's and its widgets', then the app's."""
    own: dict[str, list[str]] = {}
    shell: dict[str, list[str]] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.id or binding.id not in KEYS:
            continue
        target = shell if active.node is app else own
        target.setdefault(binding.id, []).append(app.get_key_display(Binding(key, "")))
    return ([(" ".join(keys), bid) for bid, keys in own.items()],
            [(" ".join(keys), bid) for bid, keys in shell.items()])


class KeysScreen(MedtuiModal):
    """Lists ``own`` and ``shell`` keys (from :func:`active_keys`); Escape or ``?`` closes it."""

    DEFAULT_CSS = """
    KeysScreen { align: center middle; }
    KeysScreen > VerticalScroll { width: 64; max-width: 95%; height: auto; max-height: 90%; border: round $accent;
                                  background: $surface; padding: 0 1; }
    KeysScreen .keys-title { text-style: bold; margin-top: 1; }
    """
    BINDINGS = [bind("help.close", "app.pop_screen")]

    def __init__(self, own: list[tuple[str, str]], shell: list[tuple[str, str]], lang: str | None = None) -> None:
        super().__init__(lang=lang)
        self.own, self.shell = own, shell

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield self.tr(Static(classes="keys-title"), "help.screen")
            yield Static(id="keys-own")
            yield self.tr(Static(classes="keys-title"), "help.everywhere")
            yield Static(id="keys-shell")

    def on_mount(self) -> None:
        self.relabel()

    def relabel(self) -> None:
        width = max([len(k) for k, _ in self.own + self.shell] + [6])
        for target, rows in (("#keys-own", self.own), ("#keys-shell", self.shell)):
            lines = [f"{key:>{width}}  {self.t(bid)}" for key, bid in rows]
            if target == "#keys-shell":
                lines.append(f"{'^p':>{width}}  {self.t('help.palette')}")
            self.query_one(target, Static).update("\n".join(lines) or "—")
