"""A yes/no modal that says exactly what will happen (y / n / escape, or the buttons)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from medtui.tui.i18n import Phrase, phrase
from medtui.tui.keymap import bind
from medtui.tui.screens.base import MedtuiModal


class ConfirmScreen(MedtuiModal):
    """Dismisses with True on Yes (or ``y``), False on No, ``n`` or Escape. No has the focus.

    Texts are literal strings or :class:`~medtui.tui.i18n.Phrase` s (which follow a language switch).
    """

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 72; max-width: 95%; height: auto; border: thick $warning; background: $surface;
                               padding: 1 2; }
    ConfirmScreen #confirm-detail { color: $text-muted; margin: 1 0; }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS = [bind("confirm.yes", "answer(True)"), bind("confirm.no", "answer(False)")]

    def __init__(self, question: str | Phrase, detail: str | Phrase = "", yes: str | Phrase = phrase("yes"),
                 no: str | Phrase = phrase("no"), *, danger: bool = False, lang: str | None = None):
        super().__init__(lang=lang)
        self.question, self.detail, self.yes, self.no, self.danger = question, detail, yes, no, danger

    def compose(self) -> ComposeResult:
        with Vertical():
            yield self.show(Static(id="confirm-question"), self.question)
            if self.detail:
                yield self.show(Static(id="confirm-detail", markup=False), self.detail)
            with Horizontal():
                yield self.tr(Button("", id="confirm-no", variant="primary"), "dialog.keyed", label=self.no, key="n")
                yield self.tr(Button("", id="confirm-yes", variant="error" if self.danger else "warning"),
                              "dialog.keyed", label=self.yes, key="y")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
