"""Modal forms of the Datasets screen: register/edit an entry, new file from a schema, confirm removal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from medtui.core.data.columns import COLUMN_KEYS, DEFAULT_TAGS, FORMATS, TAG_KEYS, keys_of
from medtui.core.data.detect import suggest_entry
from medtui.core.data.files import DATA_SUFFIXES, DataFileError
from medtui.core.data.reader import head
from medtui.core.data.registry import REGISTRY_NAME, SOURCE_KEYS
from medtui.core.data.schema import SCHEMAS
from medtui.core.data.validation import validate_sample
from medtui.tui.i18n import Phrase, phrase
from medtui.tui.keymap import bind
from medtui.tui.screens.base import MedtuiModal, relabel_select
from medtui.tui.screens.datasets import text as _text  # noqa: F401  (registers the screens' strings)

FORM_CSS = """
.form { width: 90%; max-width: 100; height: 90%; border: thick $primary; background: $surface; padding: 0 1; }
.form .title { text-style: bold; margin-bottom: 1; }
.form .row { height: auto; margin-bottom: 1; }
.form .row Label { width: 16; }
.form .row Select, .form .row Input { width: 1fr; }
.form .error { color: $error; height: auto; }
.form .buttons { height: auto; margin-top: 1; }
.form .buttons Button { margin-right: 2; }
"""

MAX_PICKER = 500


def data_choices(data_dir: Path) -> list[str]:
    """Files (.json/.jsonl) and folders holding them under ``data/``, relative, for the file picker."""
    out: list[str] = []
    folders: set[str] = set()
    if not data_dir.is_dir():
        return out
    for path in sorted(data_dir.rglob("*")):
        rel = path.relative_to(data_dir)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() not in DATA_SUFFIXES or path.name == REGISTRY_NAME:
            continue
        out.append(str(rel))
        for parent in list(rel.parents)[:-1]:
            folders.add(str(parent))
        if len(out) >= MAX_PICKER:
            break
    return sorted(out + [f + "/" for f in folders])


class EntryForm(MedtuiModal):
    """Register a new entry (``name`` None) or edit one; unknown keys of the entry are kept."""

    DEFAULT_CSS = FORM_CSS
    BINDINGS = [bind("datasets.form.cancel", "cancel"),
                bind("datasets.form.save", "save")]

    def __init__(self, data_dir: Path, lang: str | None = None, *, name: str | None = None,
                 entry: dict[str, Any] | None = None, existing: set[str] | None = None):
        super().__init__(lang=lang)
        self.data_dir = data_dir
        self.editing = name is not None
        self.entry_name = name or ""
        self.entry = dict(entry or {})
        self.existing = existing or set()
        self.keys: list[str] = []

    def compose(self) -> ComposeResult:
        entry = self.entry
        choices = data_choices(self.data_dir)
        current = str(entry.get("file_name") or "")
        if current and current not in choices and current.rstrip("/") + "/" not in choices:
            choices.insert(0, current)
        file_value = current if current in choices else (current.rstrip("/") + "/" if current else Select.NULL)
        columns = entry.get("columns") if isinstance(entry.get("columns"), dict) else {}
        tags = entry.get("tags") if isinstance(entry.get("tags"), dict) else {}
        with VerticalScroll(classes="form", id="entry-form"):
            yield self.tr(Label(classes="title"), "datasets.edit_title" if self.editing else "datasets.register_title")
            with Horizontal(classes="row"):
                yield self.tr(Label(), "datasets.name")
                yield self.tr(Input(self.entry_name, id="name", disabled=self.editing, compact=True),
                              "datasets.dataset_name")
            with Horizontal(classes="row"):
                yield self.tr(Label(), "datasets.file")
                yield Select([(c, c) for c in choices], value=file_value, id="file", prompt="data/…", compact=True)
            with Horizontal(classes="row"):
                yield self.tr(Label(), "datasets.formatting")
                yield Select([(f, f) for f in FORMATS], value=entry.get("formatting") or "alpaca", id="formatting",
                             allow_blank=False, compact=True)
            yield self.tr(Checkbox("", bool(entry.get("ranking")), id="ranking", compact=True), "datasets.ranking_box")
            yield self.tr(Label(classes="title"), "datasets.columns")
            for key in COLUMN_KEYS:
                value = columns.get(key)
                options = [(value, value)] if value else []
                with Horizontal(classes="row"):
                    yield Label(key)
                    yield Select(options, value=value or Select.NULL, id=f"col-{key}", prompt="—", compact=True)
            with Vertical(id="tags"):
                yield self.tr(Label(classes="title"), "datasets.tags")
                for key in TAG_KEYS:
                    with Horizontal(classes="row"):
                        yield Label(key)
                        yield Input(str(tags.get(key, "")), placeholder=DEFAULT_TAGS[key], id=f"tag-{key}",
                                    compact=True)
            yield Static("", classes="error", id="form-error")
            with Horizontal(classes="buttons"):
                yield self.tr(Button("", variant="primary", id="save"), "datasets.save")
                yield self.tr(Button("", id="cancel"), "datasets.cancel")

    def on_mount(self) -> None:
        self._show_tags()
        file = self.query_one("#file", Select).value
        if file is not Select.NULL:
            self._load_keys(str(file), suggest=False)

    def _show_tags(self) -> None:
        self.query_one("#tags").display = self.query_one("#formatting", Select).value != "alpaca"

    @on(Select.Changed, "#formatting")
    def _formatting_changed(self) -> None:
        self._show_tags()

    @on(Select.Changed, "#file")
    def _file_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self._load_keys(str(event.value), suggest=not self.editing)

    def _load_keys(self, file: str, *, suggest: bool) -> None:
        """Offer the keys of the file's first records as column choices (and guess an entry)."""
        error = self.query_one("#form-error", Static)
        try:
            records = head(self.data_dir / file, 20)
        except DataFileError as exc:
            self.show(error, str(exc))
            return
        self.show(error, "")
        self.keys = keys_of(records)
        guess = suggest_entry(file.rstrip("/"), records) if suggest else {}
        guessed_cols = guess.get("columns", {})
        for key in COLUMN_KEYS:
            select = self.query_one(f"#col-{key}", Select)
            current = select.value if not suggest else guessed_cols.get(key, Select.NULL)
            options = list(self.keys)
            if current is not Select.NULL and current not in options:
                options.insert(0, str(current))
            select.set_options([(k, k) for k in options])
            select.value = current
        if suggest:
            self.query_one("#formatting", Select).value = guess.get("formatting", "alpaca")
            self.query_one("#ranking", Checkbox).value = bool(guess.get("ranking"))
            for key, value in guess.get("tags", {}).items():
                self.query_one(f"#tag-{key}", Input).value = value
            if not self.query_one("#name", Input).value:
                self.query_one("#name", Input).value = Path(file.rstrip("/")).stem

    def _fail(self, message: str | Phrase) -> None:
        self.show(self.query_one("#form-error", Static), message)

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        if not name:
            return self._fail(phrase("datasets.need", field=phrase("datasets.dataset_name")))
        if not self.editing and name in self.existing:
            return self._fail(phrase("datasets.already", name=name))
        file = self.query_one("#file", Select).value
        has_hub = any(self.entry.get(k) for k in SOURCE_KEYS[:-1])
        if file is Select.NULL and not has_hub:
            return self._fail(phrase("datasets.need", field=phrase("datasets.file")))
        fmt = str(self.query_one("#formatting", Select).value)
        entry: dict[str, Any] = {} if not self.editing else dict(self.entry)
        if file is not Select.NULL:
            entry["file_name"] = str(file).rstrip("/")
        if fmt != "alpaca" or "formatting" in entry:
            entry["formatting"] = fmt
        if self.query_one("#ranking", Checkbox).value:
            entry["ranking"] = True
        elif "ranking" in entry:
            entry["ranking"] = False
        old_cols = self.entry.get("columns") if isinstance(self.entry.get("columns"), dict) else {}
        columns = {k: v for k, v in old_cols.items() if k not in COLUMN_KEYS}
        for key in COLUMN_KEYS:
            value = self.query_one(f"#col-{key}", Select).value
            if value is not Select.NULL:
                columns[key] = str(value)
        ordered = {k: columns[k] for k in [*old_cols, *COLUMN_KEYS] if k in columns}
        if ordered:
            entry["columns"] = ordered
        else:
            entry.pop("columns", None)
        if fmt != "alpaca":
            old_tags = self.entry.get("tags") if isinstance(self.entry.get("tags"), dict) else {}
            tags = {k: v for k, v in old_tags.items() if k not in TAG_KEYS}
            for key in TAG_KEYS:
                value = self.query_one(f"#tag-{key}", Input).value.strip()
                if value:
                    tags[key] = value
            if tags:
                entry["tags"] = tags
            else:
                entry.pop("tags", None)
        if file is not Select.NULL:
            problem = unreadable(self.data_dir / entry["file_name"], entry, name)
            if problem:
                return self._fail(problem)
        self.dismiss((name, entry))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def unreadable(path: Path, entry: dict[str, Any], name: str) -> str:
    """What the trainer could not read in ``path`` under ``entry`` (the checks `medtui data add` runs), or ""."""
    report, _ = validate_sample(path, entry, None, name=name)
    return "\n".join(f.text() for f in report.findings if f.level == "error")


class NewDatasetForm(MedtuiModal):
    """Name, kind (pt, sft, preference, kto) and file name of a new dataset file."""

    DEFAULT_CSS = FORM_CSS + ".form { height: auto; }"
    BINDINGS = [bind("datasets.new.cancel", "cancel"),
                bind("datasets.new.create", "create")]

    def __init__(self, lang: str | None = None):
        super().__init__(lang=lang)

    def _kinds(self) -> list[tuple[str, str]]:
        return [(v[3] if self.lang == "zh" else v[2], k) for k, v in SCHEMAS.items()]

    def compose(self) -> ComposeResult:
        with Vertical(classes="form", id="new-form"):
            yield self.tr(Label(classes="title"), "datasets.new_title")
            with Horizontal(classes="row"):
                yield self.tr(Label(), "datasets.name")
                yield self.tr(Input(id="new-name", compact=True), "datasets.dataset_name")
            with Horizontal(classes="row"):
                yield self.tr(Label(), "datasets.kind")
                yield Select(self._kinds(), value="sft", allow_blank=False, id="new-kind", compact=True)
            with Horizontal(classes="row"):
                yield self.tr(Label(), "datasets.file_name")
                yield Input(placeholder="NAME.json", id="new-file", compact=True)
            yield Static("", classes="error", id="new-error")
            with Horizontal(classes="buttons"):
                yield self.tr(Button("", variant="primary", id="create"), "datasets.save")
                yield self.tr(Button("", id="cancel"), "datasets.cancel")

    def relabel(self) -> None:
        relabel_select(self.query_one("#new-kind", Select), self._kinds())

    @on(Button.Pressed, "#create")
    @on(Input.Submitted)
    def action_create(self) -> None:
        name = self.query_one("#new-name", Input).value.strip()
        if not name:
            self.tr(self.query_one("#new-error", Static), "datasets.need", field=phrase("datasets.dataset_name"))
            return
        file = self.query_one("#new-file", Input).value.strip() or None
        self.dismiss((name, str(self.query_one("#new-kind", Select).value), file))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmRemove(MedtuiModal):
    DEFAULT_CSS = FORM_CSS + ".form { height: auto; }"
    BINDINGS = [bind("datasets.remove.cancel", "cancel")]

    def __init__(self, name: str, lang: str | None = None):
        super().__init__(lang=lang)
        self.entry_name = name

    def compose(self) -> ComposeResult:
        with Vertical(classes="form"):
            yield self.tr(Label(), "datasets.confirm_remove", name=self.entry_name)
            with Horizontal(classes="buttons"):
                yield self.tr(Button("", variant="error", id="yes"), "datasets.confirm")
                yield self.tr(Button("", id="no"), "datasets.cancel")

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(False)
