"""One form field generated from a spec :class:`~medtui.core.stages.spec.Arg`: label, control, help, error."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static

from medtui.core.stages.spec import Arg
from medtui.tui.i18n import t
from medtui.tui.screens.base import relabel_select
from medtui.tui.screens.train.formmodel import CHOICE_LABELS, select_options, shown_default, uses_select
from medtui.tui.screens.train.text import problem_text


class FieldRow(Vertical):
    """A labelled control for one argument; shows its bilingual help and any problem below it."""

    class Browse(Message):
        """The user asked for the picker of this field (button or ctrl+b)."""

        def __init__(self, row: "FieldRow") -> None:
            super().__init__()
            self.row = row

    def __init__(self, arg: Arg, value: Any, lang: str, *, pickable: bool = False,
                 fallback: str | None = None) -> None:
        super().__init__(id=f"row-{arg.name}", classes="field-row")
        self.arg = arg
        self.lang = lang
        self.pickable = pickable
        self.fallback = fallback  # where an empty value comes from instead of the spec default (a profile)
        self._initial = value

    @property
    def control_id(self) -> str:
        return f"f-{self.arg.name}"

    def compose(self) -> ComposeResult:
        arg = self.arg
        with Horizontal(classes="field-line"):
            yield Label(self._label_text(), classes="field-label")
            if uses_select(arg):
                value = self._initial if self._initial is not None else Select.NULL
                yield Select(select_options(arg, self.lang), prompt=self._prompt(), value=value, compact=True,
                             id=self.control_id, classes="field-control")
            else:
                yield Input(value=self._initial or "", placeholder=self._prompt(), compact=True,
                            id=self.control_id, classes="field-control")
            if self.pickable:
                yield Button("…", compact=True, classes="browse", tooltip=t("train.browse", self.lang))
        yield Static(Content(arg.help(self.lang)), classes="field-help")
        yield Static("", classes="field-error")

    def _label_text(self) -> Content:
        if self.arg.required:
            return Content.assemble(self.arg.name, (" *", "bold $error"))
        return Content(self.arg.name)

    def _prompt(self) -> str:
        if self.fallback:
            return t("train.profile", self.lang, value=self.fallback)
        default = shown_default(self.arg)
        if uses_select(self.arg):
            return t("train.unset", self.lang) + (f" {default}" if default else "")
        return t("train.default", self.lang, value=default) if default else ""

    # -- value ------------------------------------------------------------------------------
    @property
    def control(self) -> Input | Select:
        return self.query_one(f"#{self.control_id}")

    @property
    def value(self) -> Any:
        control = self.control
        if isinstance(control, Select):
            return None if control.is_blank() else control.value
        return control.value

    def set_value(self, value: Any) -> None:
        control = self.control
        if isinstance(control, Select):
            if value is None:
                control.clear()
            else:
                control.value = value
        else:
            control.value = "" if value is None else str(value)

    # -- problems and language ----------------------------------------------------------------
    def set_problem(self, message: str | None, level: str = "error") -> None:
        if (message or "", level) == getattr(self, "_shown_problem", ("", "error")):
            return
        self._shown_problem = (message or "", level)
        error = self.query_one(".field-error", Static)
        error.update(Content(problem_text(message or "", self.lang)))
        error.set_class(bool(message), "-shown")
        error.set_class(level == "warn", "-warn")
        self.set_class(bool(message) and level == "error", "-invalid")

    @property
    def problem(self) -> str:
        """The problem shown under the field (in the core's English wording)."""
        return getattr(self, "_shown_problem", ("", ""))[0]

    def set_lang(self, lang: str) -> None:
        self.lang = lang
        message, level = getattr(self, "_shown_problem", ("", "error"))
        self._shown_problem = None
        self.set_problem(message or None, level)
        self.query_one(".field-help", Static).update(Content(self.arg.help(lang)))
        control = self.control
        if isinstance(control, Input):
            control.placeholder = self._prompt()
        else:
            control.prompt = self._prompt()
            if self.arg.name in CHOICE_LABELS:
                relabel_select(control, select_options(self.arg, lang))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.has_class("browse"):
            event.stop()
            self.post_message(self.Browse(self))
