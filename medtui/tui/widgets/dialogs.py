"""Small modal dialogs: choose one, choose several, a path with suggestions, and the run preview.

The yes/no dialog is :class:`medtui.tui.screens.confirm.ConfirmScreen`.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Input, Label, OptionList, SelectionList
from textual.widgets.option_list import Option

from medtui.tui.i18n import Phrase
from medtui.tui.keymap import bind
from medtui.tui.screens.base import MedtuiModal
from medtui.tui.widgets.textarea import TextArea


class _Dialog(MedtuiModal):
    BINDINGS = [bind("dialog.cancel", "cancel")]

    def __init__(self, title: str | Phrase, lang: str | None = None) -> None:
        super().__init__(lang=lang, classes="dialog")
        self.title_text = title

    def _title(self) -> Label:
        return self.show(Label(classes="dialog-title"), self.title_text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChoiceScreen(_Dialog):
    """Pick one of ``options`` (label, value); dismisses with the value or None."""

    def __init__(self, title: str | Phrase, options: list[tuple[str, Any]], lang: str | None = None) -> None:
        super().__init__(title, lang)
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield self._title()
            if self.options:
                yield OptionList(*[Option(Content(label), id=str(i)) for i, (label, _) in enumerate(self.options)],
                                 id="choices")
            else:
                yield self.tr(Label(classes="dialog-note"), "dialog.nochoices")

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.options[int(event.option.id)][1])


class MultiChoiceScreen(_Dialog):
    """Toggle several of ``options`` (label, value); Enter dismisses with the chosen values."""

    BINDINGS = [bind("dialog.cancel", "cancel"), bind("dialog.ok", "done", priority=True)]

    def __init__(self, title: str | Phrase, options: list[tuple[str, str]], chosen: list[str],
                 lang: str | None = None) -> None:
        super().__init__(title, lang)
        self.options = options
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield self._title()
            if self.options:
                yield SelectionList(*[(label, value, value in self.chosen) for label, value in self.options],
                                    id="choices")
            else:
                yield self.tr(Label(classes="dialog-note"), "dialog.nochoices")

    def action_done(self) -> None:
        if not self.options:
            self.dismiss(None)
            return
        self.dismiss(list(self.query_one(SelectionList).selected))


class PathScreen(_Dialog):
    """Type a path or pick one of ``suggestions``; dismisses with the path text or None."""

    def __init__(self, title: str | Phrase, initial: str, suggestions: list[str], lang: str | None = None) -> None:
        super().__init__(title, lang)
        self.initial = initial
        self.suggestions = suggestions

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield self._title()
            yield Input(self.initial, id="path", compact=True)
            if self.suggestions:
                yield OptionList(*[Option(Content(s), id=str(i)) for i, s in enumerate(self.suggestions)],
                                 id="choices")

    @on(Input.Submitted, "#path")
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(value or None)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.suggestions[int(event.option.id)])


class PreviewScreen(_Dialog):
    """Read-only text (the run's exact command, environment and YAML); ctrl+r starts it."""

    BINDINGS = [bind("dialog.cancel", "cancel"), bind("dialog.start", "start", priority=True)]

    def __init__(self, title: str | Phrase, text: str, lang: str | None = None, *, can_start: bool = True) -> None:
        super().__init__(title, lang)
        self.text = text
        self.can_start = can_start

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box preview-box"):
            yield self._title()
            yield TextArea(self.text, read_only=True, id="preview-text", soft_wrap=True)
            with Horizontal(classes="dialog-buttons"):
                if self.can_start:
                    yield self.tr(Button("", variant="success", id="start", compact=True), "dialog.keyed",
                                  label=Phrase("dialog.start"), key="ctrl+r")
                yield self.tr(Button("", id="close", compact=True), "dialog.keyed", label=Phrase("dialog.close"),
                              key="esc")

    def action_start(self) -> None:
        if self.can_start:
            self.dismiss("start")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss("start" if event.button.id == "start" else None)
