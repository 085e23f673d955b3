"""Jump to a field of the Train form by typing part of its name (``/`` or ctrl+f).

The list holds every field of the stage and method, including the sections not opened yet;
typing filters it fuzzily (``epo`` finds ``num_train_epochs``), Enter jumps, Escape closes.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.fuzzy import Matcher
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from medtui.tui.keymap import bind
from medtui.tui.screens.base import MedtuiModal

MAX_SHOWN = 40


class FieldSearch(MedtuiModal):
    """``fields`` are (name, one-line help); dismisses with the chosen field's name, or None."""

    BINDINGS = [bind("dialog.cancel", "cancel"),
                bind("train.find.previous", "move(-1)", show=False),
                bind("train.find.next", "move(1)", show=False)]

    def __init__(self, fields: list[tuple[str, str]], lang: str | None = None) -> None:
        super().__init__(lang=lang, classes="dialog")
        self.fields = fields
        self.shown: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield self.tr(Label(classes="dialog-title"), "train.find.title")
            yield self.tr(Input(id="find", compact=True), "train.find.placeholder")
            yield OptionList(id="choices")

    def on_mount(self) -> None:
        self._filter("")
        self.query_one("#find", Input).focus()

    @on(Input.Changed, "#find")
    def _changed(self, event: Input.Changed) -> None:
        self._filter(event.value)

    def _filter(self, query: str) -> None:
        query = query.strip()
        if query:
            matcher = Matcher(query)
            scored = [(matcher.match(f"{name} {help_}") + 2 * matcher.match(name), name, help_)
                      for name, help_ in self.fields]
            hits = [(name, help_) for score, name, help_ in sorted(scored, key=lambda s: -s[0]) if score > 0]
        else:
            hits = list(self.fields)
        hits = hits[:MAX_SHOWN]
        self.shown = [name for name, _ in hits]
        options = self.query_one("#choices", OptionList)
        options.clear_options()
        options.add_options([Option(Content.assemble((name, "bold"), "  ", (help_, "dim")), id=name)
                             for name, help_ in hits])
        if hits:
            options.highlighted = 0

    def action_move(self, step: int) -> None:
        options = self.query_one("#choices", OptionList)
        if options.option_count:
            options.highlighted = max(0, min(options.option_count - 1, (options.highlighted or 0) + step))

    @on(Input.Submitted, "#find")
    def _submitted(self) -> None:
        options = self.query_one("#choices", OptionList)
        if options.highlighted is not None and self.shown:
            self.dismiss(self.shown[options.highlighted])

    @on(OptionList.OptionSelected, "#choices")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
