"""The Train form's view: one collapsible section per spec section, the "other keys" box, the problems.

:class:`StageForm` draws a :class:`~medtui.tui.screens.train.formmodel.FormState` and shows
problems; the screen owns the state and reacts to the widgets' change events. Sections build their
rows the first time they are expanded, which keeps switching stages fast.
"""

from __future__ import annotations

from typing import Callable

import yaml
from textual import on
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Collapsible, Static

from medtui.core.stages.spec import SECTION_TITLES
from medtui.core.stages.validate import Problem
from medtui.tui.i18n import t
from medtui.tui.screens.train.fields import FieldRow
from medtui.tui.screens.train.formmodel import FormState, form_sections, shown
from medtui.tui.screens.train.pickers import PICKERS
from medtui.tui.widgets.textarea import TextArea

#: The section (and problem field) of the keys the form has no field for.
EXTRAS = "extras"


def section_title(section: str, lang: str) -> str:
    en, zh = SECTION_TITLES[section]
    return zh if lang == "zh" else en


class FormSection(Collapsible):
    """One spec section; its fields are only built when it is first expanded (keeps the form fast)."""

    def __init__(self, section: str, args: list, title: str, collapsed: bool, rows: list[FieldRow]) -> None:
        super().__init__(*rows, title=title, collapsed=collapsed, id=f"sec-{section}", classes="form-section")
        self.section = section
        self.args = args
        self.base_title = title
        self.populated = bool(rows)

    async def populate(self, rows: list[FieldRow]) -> None:
        self.populated = True
        await self.query_one(Collapsible.Contents).mount_all(rows)

    def show_hidden_problems(self, count: int) -> None:
        """Problems of fields not built yet are counted in the title."""
        self.title = self.base_title + (f"  ✗ {count}" if count else "")


class StageForm(VerticalScroll):
    """The fields of one stage and method, the extras box and the problems that are not a field's."""

    def __init__(self, state: FormState, lang: str, *, id: str = "fields",
                 fallback: Callable[[str], str | None] = lambda name: None) -> None:
        """``fallback(name)`` says where an empty field's value comes from instead of the spec
        default (the Slurm cluster profile), or None."""
        super().__init__(id=id)
        self.state = state
        self.lang = lang
        self.fallback = fallback
        self.expanded: set[str] = {"basic"}

    def compose(self):
        yield Static(id="form-problems")
        yield from self._sections()

    def _sections(self) -> list[Collapsible]:
        out: list[Collapsible] = []
        for section, args in form_sections(self.state.stage, self.state.method):
            collapsed = section not in self.expanded
            out.append(FormSection(section, args, section_title(section, self.lang), collapsed,
                                   [] if collapsed else self.rows_for(args)))
        extras = TextArea(self._extras_text(), id="extras", soft_wrap=False, show_line_numbers=False)
        out.append(Collapsible(Static(Content(t("train.extras.help", self.lang)), classes="field-help"), extras,
                               Static("", id="extras-error", classes="field-error"),
                               title=t("train.extras", self.lang),
                               collapsed=not self.state.extras and EXTRAS not in self.expanded,
                               id=f"sec-{EXTRAS}", classes="form-section"))
        return out

    def rows_for(self, args) -> list[FieldRow]:
        rows = []
        for arg in args:
            row = FieldRow(arg, self.state.values.get(arg.name), self.lang, pickable=arg.name in PICKERS,
                           fallback=self.fallback(arg.name))
            row.display = shown(arg, self.state.values)
            rows.append(row)
        return rows

    def show_conditional_rows(self) -> None:
        """Show the fields that only matter for another field's value (Slurm's, when launching on Slurm)."""
        for row in self.query(FieldRow):
            row.display = shown(row.arg, self.state.values)

    def _extras_text(self) -> str:
        if not self.state.extras:
            return ""
        return yaml.safe_dump(self.state.extras, sort_keys=False, allow_unicode=True, default_flow_style=False)

    @property
    def rows(self) -> dict[str, FieldRow]:
        """The field rows built so far, by argument name."""
        return {row.arg.name: row for row in self.query(FieldRow)}

    @on(Collapsible.Expanded)
    async def _section_expanded(self, event: Collapsible.Expanded) -> None:
        section = event.collapsible
        if isinstance(section, FormSection) and not section.populated:
            await section.populate(self.rows_for(section.args))
            self.post_message(self.RowsBuilt())

    class RowsBuilt(Message):
        """A section built its rows: their problems need showing."""

    async def rebuild(self, state: FormState) -> None:
        """Draw ``state`` (a new stage, method or config), keeping the open sections open."""
        self.state = state
        self.expanded = {c.id.removeprefix("sec-") for c in self.query(".form-section").results(Collapsible)
                         if not c.collapsed} or {"basic"}
        await self.remove_children(".form-section")
        await self.mount_all(self._sections())

    def show_problems(self, problems: list[Problem], *, reveal: bool = False) -> None:
        """Mark each field's worst problem; ``reveal`` opens the sections that hold errors."""
        by_field: dict[str, Problem] = {}
        for p in problems:
            if p.field not in by_field or (p.level == "error" and by_field[p.field].level != "error"):
                by_field[p.field] = p
        rows = self.rows
        for name, row in rows.items():
            p = by_field.get(name)
            row.set_problem(p.message if p else None, p.level if p else "error")
        extras_problem = by_field.get(EXTRAS)
        extras_error = self.query_one("#extras-error", Static)
        extras_error.update(Content(extras_problem.message if extras_problem else ""))
        extras_error.set_class(extras_problem is not None, "-shown")
        general = [p for p in problems if p.field not in rows and p.field != EXTRAS]
        box = self.query_one("#form-problems", Static)
        box.update(Content("\n".join(str(p) for p in general)))
        box.set_class(bool(general), "-shown")
        for section in self.query(FormSection):
            hidden = [a.name for a in section.args if a.name not in rows]
            errors = [n for n in hidden if n in by_field and by_field[n].level == "error"]
            section.show_hidden_problems(len(errors))
            if errors and reveal:
                section.collapsed = False  # builds its rows, then the problems are shown again
            elif reveal and section.collapsed and any(
                    by_field.get(a.name) and by_field[a.name].level == "error" and a.name in rows for a in section.args):
                section.collapsed = False

    def set_lang(self, lang: str) -> None:
        """Section titles and the extras help in ``lang`` (the screen relabels the rows too)."""
        self.lang = lang
        for section in self.query(".form-section").results(Collapsible):
            name = section.id.removeprefix("sec-")
            if isinstance(section, FormSection):
                section.base_title = section_title(name, lang)
            section.title = t("train.extras", lang) if name == EXTRAS else section_title(name, lang)
        self.query_one(f"#sec-{EXTRAS} .field-help", Static).update(Content(t("train.extras.help", lang)))
