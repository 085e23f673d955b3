"""Editing a small dataset file in the terminal: a table of records, a form per record, atomic save."""

from __future__ import annotations

import json
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Static

from medtui.core.data.document import DatasetDocument
from medtui.core.errors import MedtuiError
from medtui.tui.i18n import Phrase, phrase, t
from medtui.tui.keymap import bind
from medtui.tui.screens.base import MedtuiModal, MedtuiScreen
from medtui.tui.screens.datasets.forms import FORM_CSS
from medtui.tui.screens.datasets.text import clip, value_text
from medtui.tui.widgets.footer import MedtuiFooter
from medtui.tui.widgets.textarea import TextArea

CELL = 28


class RecordForm(MedtuiModal):
    """One record's fields: text areas for strings, a checkbox for booleans, JSON for the rest."""

    DEFAULT_CSS = FORM_CSS + """
    .form TextArea { height: 4; }
    .form .field { margin-top: 1; text-style: bold; }
    """
    BINDINGS = [bind("datasets.record.cancel", "cancel"),
                bind("datasets.record.save", "submit")]

    def __init__(self, record: dict[str, Any], title: str | Phrase, lang: str | None = None):
        super().__init__(lang=lang)
        self.record, self.title_text = dict(record), title
        self.fields = list(record)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form", id="record-form"):
            yield self.show(Label(classes="title"), self.title_text)
            for i, key in enumerate(self.fields):
                value = self.record[key]
                if isinstance(value, bool):
                    yield Checkbox(key, value, id=f"field-{i}")
                    continue
                yield Label(key, classes="field")
                if isinstance(value, str):
                    yield TextArea(value, id=f"field-{i}", soft_wrap=True, show_line_numbers=False)
                else:
                    yield Input(json.dumps(value, ensure_ascii=False), id=f"field-{i}")
            yield Static("", classes="error", id="record-error")
            with Horizontal(classes="buttons"):
                yield self.tr(Button("", variant="primary", id="ok"), "datasets.save")
                yield self.tr(Button("", id="cancel"), "datasets.cancel")

    @on(Button.Pressed, "#ok")
    def action_submit(self) -> None:
        out: dict[str, Any] = {}
        for i, key in enumerate(self.fields):
            widget = self.query_one(f"#field-{i}")
            if isinstance(widget, Checkbox):
                out[key] = widget.value
            elif isinstance(widget, TextArea):
                out[key] = widget.text
            else:
                try:
                    out[key] = json.loads(widget.value)
                except json.JSONDecodeError as exc:
                    self.query_one("#record-error", Static).update(f"{key}: invalid JSON ({exc.msg})")
                    return
        self.dismiss(out)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class RecordsEditor(MedtuiScreen):
    """Add, edit, duplicate and delete the records of a :class:`DatasetDocument`; ctrl+s saves atomically.

    Dismisses with True when something was saved.
    """

    DEFAULT_CSS = """
    RecordsEditor #editor-title { height: auto; padding: 0 1; background: $boost; }
    RecordsEditor DataTable { height: 1fr; }
    """
    BINDINGS = [
        bind("datasets.editor.add", "add"),
        bind("datasets.editor.edit", "edit"),
        bind("datasets.editor.duplicate", "duplicate"),
        bind("datasets.editor.delete", "delete"),
        bind("datasets.editor.save", "save"),
        bind("datasets.editor.close", "close"),
    ]

    def __init__(self, document: DatasetDocument, blank: dict[str, Any], label: str, lang: str | None = None):
        super().__init__(lang=lang)
        self.document, self.blank, self.label = document, blank, label
        self.saved = False
        self._confirm_discard = False

    def compose(self) -> ComposeResult:
        yield Static("", id="editor-title")
        yield DataTable(id="record-table", cursor_type="row", zebra_stripes=True)
        yield MedtuiFooter()

    def on_mount(self) -> None:
        self._fill()

    def _fields(self) -> list[str]:
        fields = self.document.fields()
        return fields or list(self.blank)

    def _fill(self, cursor: int | None = None) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_column("#", key="#")
        for field in self._fields():
            table.add_column(field, key=field)
        for i, record in enumerate(self.document.records):
            cells = [clip(value_text(record.get(f, "")).replace("\n", " "), CELL, 1)[0] for f in self._fields()]
            table.add_row(str(i), *cells, key=str(i))
        if cursor is not None and self.document.records:
            table.move_cursor(row=max(0, min(cursor, len(self.document.records) - 1)))
        self._title()

    def relabel(self) -> None:
        self._title()

    def _title(self) -> None:
        text = t("datasets.editing", self.lang, file=self.label, n=len(self.document.records))
        if self.document.dirty:
            text += f" · [b]{t('datasets.unsaved', self.lang)}[/b]"
        self.query_one("#editor-title", Static).update(text)

    def _row(self) -> int | None:
        table = self.query_one(DataTable)
        return table.cursor_row if self.document.records else None

    def action_add(self) -> None:
        template = {f: (False if isinstance(self.blank.get(f), bool) else "") for f in self._fields()}

        def done(record: dict[str, Any] | None) -> None:
            if record is not None:
                self._fill(self.document.add(record))

        self.app.push_screen(RecordForm(template, phrase("datasets.new_record"), self.lang), done)

    def action_edit(self) -> None:
        row = self._row()
        if row is None:
            return

        def done(record: dict[str, Any] | None) -> None:
            if record is not None:
                self.document.update(row, record)
                self._fill(row)

        record = {**{f: "" for f in self._fields()}, **self.document.records[row]}
        self.app.push_screen(RecordForm(record, phrase("datasets.record_title", index=row), self.lang), done)

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_edit()

    def action_duplicate(self) -> None:
        row = self._row()
        if row is not None:
            self._fill(self.document.duplicate(row))

    def action_delete(self) -> None:
        row = self._row()
        if row is not None:
            self.document.delete(row)
            self._fill(row)

    def action_save(self) -> None:
        try:
            self.document.save()
        except (OSError, MedtuiError) as exc:
            self.notify(str(exc), severity="error")
            return
        self.saved = True
        self._confirm_discard = False
        self._title()
        self.notify(t("datasets.saved", self.lang, file=self.label))

    def action_close(self) -> None:
        if self.document.dirty and not self._confirm_discard:
            self._confirm_discard = True
            self.notify(t("datasets.discard", self.lang), severity="warning")
            return
        self.dismiss(self.saved)
