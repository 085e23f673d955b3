"""The Datasets screen: registry list, register/edit/remove, streaming preview, editing, validation, stats.

Reading runs in thread workers that post messages; the ``@on`` handlers own the screen's state.
Record counts fill in from a background worker; pages come from a per-dataset
:class:`~medtui.core.data.reader.DatasetReader` whose index grows as pages are asked for.
"""

from __future__ import annotations

import threading
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, Select, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from medtui.core.data.document import EDIT_LIMIT, DatasetDocument, TooLargeToEdit
from medtui.core.data.files import DataFileError
from medtui.core.data.listing import DatasetRow, human_size, list_datasets
from medtui.core.data.reader import DatasetReader
from medtui.core.data.registry import SOURCE_KEYS
from medtui.core.data.schema import SCHEMAS, create_dataset
from medtui.core.data.stats import format_stats
from medtui.core.errors import MedtuiError
from medtui.core.stages.fit import TRAIN_STAGES
from medtui.core.stages.spec import ARG_BY_NAME, stage_title
from medtui.core.workspace import Workspace
from medtui.tui.i18n import localise_bindings, t
from medtui.tui.screens.datasets.editor import RecordsEditor
from medtui.tui.screens.datasets.forms import ConfirmRemove, EntryForm, NewDatasetForm
from medtui.tui.screens.datasets.text import render_page


class CountReady(Message):
    def __init__(self, name: str, count: int | None, error: str | None = None):
        super().__init__()
        self.name, self.count, self.error = name, count, error


class PageLoaded(Message):
    def __init__(self, name: str, start: int, page: list[tuple[int, dict]], total: int | None,
                 error: str | None = None):
        super().__init__()
        self.name, self.start, self.page, self.total, self.error = name, start, page, total, error


class ValidationDone(Message):
    def __init__(self, name: str, report: Any = None, error: str | None = None):
        super().__init__()
        self.name, self.report, self.error = name, report, error


class StatsDone(Message):
    def __init__(self, name: str, stats: dict | None = None, error: str | None = None):
        super().__init__()
        self.name, self.stats, self.error = name, stats, error


#: List columns, most useful first so that 80 columns show them.
COLUMNS = ("name", "records", "stages", "format", "ranking", "size", "exists", "file")


def _clip_start(text: str, cells: int, *, keep_end: bool = False) -> str:
    """``text`` in at most ``cells`` cells, cut at the end (or, with ``keep_end``, at the start)."""
    from rich.cells import cell_len

    if cell_len(text) <= cells:
        return text
    if keep_end:
        while cell_len(text) > cells - 1:
            text = text[1:]
        return "…" + text
    while cell_len(text) > cells - 1:
        text = text[:-1]
    return text + "…"


class DatasetsScreen(Screen):
    DEFAULT_CSS = """
    DatasetsScreen #banner { height: auto; padding: 0 1; background: $boost; }
    DatasetsScreen #banner.error { background: $error 30%; }
    DatasetsScreen #datasets { height: 8; }
    DatasetsScreen TabbedContent { height: 1fr; }
    DatasetsScreen TabPane { padding: 0; }
    DatasetsScreen #page-bar { height: 1; }
    DatasetsScreen #page-info { width: 1fr; padding: 0 1; }
    DatasetsScreen #jump { width: 22; }
    DatasetsScreen #records { height: 1fr; }
    DatasetsScreen .controls { height: auto; }
    DatasetsScreen .controls Select { width: 1fr; }
    DatasetsScreen .controls #stage { width: 30; }
    DatasetsScreen .controls #unit { width: 18; }
    DatasetsScreen .controls #field { width: 18; }
    DatasetsScreen .controls Input { width: 14; }
    DatasetsScreen #report-scroll { height: 1fr; }
    DatasetsScreen #stats-body { height: 1fr; }
    DatasetsScreen #stats-scroll { width: 46; height: 1fr; }
    DatasetsScreen #histogram { width: 1fr; height: 1fr; }
    """
    BINDINGS = [
        Binding("a", "register", "Register", id="datasets.register"),
        Binding("e", "edit_entry", "Edit entry", id="datasets.edit_entry"),
        Binding("d", "remove", "Remove", id="datasets.remove"),
        Binding("n", "new_file", "New file", id="datasets.new_file"),
        Binding("o", "edit_records", "Edit records", id="datasets.edit_records"),
        Binding("right_square_bracket", "next_page", "Next page", key_display="]", id="datasets.next_page"),
        Binding("left_square_bracket", "prev_page", "Prev page", key_display="[", id="datasets.prev_page"),
        Binding("g", "jump", "Go to", id="datasets.jump"),
        Binding("x", "expand", "Expand", id="datasets.expand"),
        Binding("v", "validate", "Validate", id="datasets.validate"),
        Binding("s", "stats", "Stats", id="datasets.stats"),
        Binding("r", "refresh", "Refresh", id="datasets.refresh"),
    ]

    def __init__(self, workspace: Workspace, lang: str = "en", *, page_size: int = 5, edit_limit: int = EDIT_LIMIT):
        super().__init__()
        self.workspace, self.lang = workspace, lang
        self.page_size, self.edit_limit = page_size, edit_limit
        self.registry = workspace.registry()
        self.rows: dict[str, DatasetRow] = {}
        self.current: str | None = None
        self.start = 0
        self.page: list[tuple[int, dict]] = []
        self.expanded = False
        self.totals: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        self.stats: dict | None = None
        self.plotted: tuple[str, list[int]] | None = None  # (title, bar heights) of the histogram shown
        self._readers: dict[str, DatasetReader] = {}
        self._readers_lock = threading.Lock()
        self._cancel = threading.Event()
        localise_bindings(self, lang)

    def _t(self, key: str, **kw: Any) -> str:
        return t(key, self.lang, **kw)

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        tx = self._t
        yield Static("", id="banner")
        yield DataTable(id="datasets", cursor_type="row", zebra_stripes=True)
        with TabbedContent(id="tabs"):
            with TabPane(tx("datasets.preview"), id="tab-preview"):
                with Horizontal(id="page-bar"):
                    yield Static("", id="page-info")
                    yield Input(placeholder=tx("datasets.jump_to") + " #", id="jump", type="integer", compact=True)
                with VerticalScroll(id="records"):
                    yield Static("", id="records-view")
            with TabPane(tx("datasets.validate"), id="tab-validate"):
                with Horizontal(classes="controls"):
                    yield Select([(f"{s} · {stage_title(s, self.lang)}", s) for s in TRAIN_STAGES], value="sft",
                                 allow_blank=False, id="stage", compact=True)
                    yield Select(self._model_options(), prompt=tx("datasets.no_model_short"), id="model", compact=True)
                    yield Input(str(ARG_BY_NAME["cutoff_len"].default), placeholder=tx("datasets.cutoff"), id="cutoff",
                                type="integer", compact=True)
                    yield Button(tx("datasets.run_validate"), id="run-validate", variant="primary", compact=True)
                with VerticalScroll(id="report-scroll"):
                    yield Static("", id="report")
            with TabPane(tx("datasets.stats"), id="tab-stats"):
                with Horizontal(classes="controls"):
                    yield Select(self._model_options(), prompt=tx("datasets.no_model_short"), id="stats-model", compact=True)
                    yield Select([("record", "record")], value="record", allow_blank=False, id="field",
                                 compact=True)
                    yield Select([(tx("datasets.chars"), "chars"), (tx("datasets.tokens"), "tokens")], value="chars",
                                 allow_blank=False, id="unit", compact=True)
                    yield Button(tx("datasets.run_stats"), id="run-stats", variant="primary", compact=True)
                with Horizontal(id="stats-body"):
                    with VerticalScroll(id="stats-scroll"):
                        yield Static("", id="stats-summary")
                    yield PlotextPlot(id="histogram")
        yield Footer()

    def _model_options(self) -> list[tuple[str, str]]:
        return [(self.workspace.relative(p), str(p)) for p in self.workspace.model_dirs()
                if (p / "tokenizer.json").is_file() or (p / "tokenizer_config.json").is_file()]

    def on_mount(self) -> None:
        table = self.query_one("#datasets", DataTable)
        for key in COLUMNS:
            table.add_column(self._t(f"datasets.{key}"), key=key)
        self._reload()

    def on_unmount(self) -> None:
        self._cancel.set()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Anything a worker did not expect becomes a message, never a crash."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.notify(f"{type(event.worker.error).__name__}: {event.worker.error}", severity="error")

    # -- list --------------------------------------------------------------------------
    def _reload(self, select: str | None = None) -> None:
        self.registry.reload()
        banner = self.query_one("#banner", Static)
        rel = self.workspace.relative(self.registry.path)
        if self.registry.error:
            banner.update(f"{self._t('datasets.title')} · {rel} · {self._t('datasets.read_only')}\n"
                          + self._t("datasets.registry_error", error=self.registry.error))
            banner.add_class("error")
        else:
            banner.update(f"{self._t('datasets.title')} · {rel}")
            banner.remove_class("error")
        self.rows = {row.name: row for row in list_datasets(self.registry)}
        with self._readers_lock:
            self._readers.clear()
        self.totals.clear()
        self.errors.clear()
        table = self.query_one("#datasets", DataTable)
        table.clear()
        for row in self.rows.values():
            table.add_row(*self._cells(row), key=row.name)
        names = list(self.rows)
        if select in self.rows:
            table.move_cursor(row=names.index(select))
        self.current = None
        if names:
            self._select(names[table.cursor_row] if table.cursor_row < len(names) else names[0])
        else:
            self._show_message(self._t("datasets.no_dataset"))
        self._count_all()

    def _cells(self, row: DatasetRow) -> tuple[str, ...]:
        if row.hub:
            exists = self._t("datasets.hub")
        else:
            exists = self._t("datasets.yes") if row.exists else self._t("datasets.missing")
        if row.name in self.errors:
            records = "error"
        elif row.name in self.totals:
            records = str(self.totals[row.name])
        else:
            records = self._t("datasets.counting") if row.exists else "-"
        return (_clip_start(row.name, 24), records, ",".join(row.stages) or "-", row.formatting,
                self._t("datasets.yes") if row.ranking else self._t("datasets.no"), human_size(row.size), exists,
                _clip_start(row.source, 32, keep_end=True))

    def _reader(self, name: str) -> DatasetReader:
        with self._readers_lock:
            reader = self._readers.get(name)
            if reader is None:
                row = self.rows[name]
                reader = DatasetReader(row.path, self.workspace.state_dir / "cache" / "index")
                self._readers[name] = reader
            return reader

    @work(thread=True, exclusive=True, group="datasets-count", exit_on_error=False)
    def _count_all(self) -> None:
        for name, row in list(self.rows.items()):
            if not row.exists or self._cancel.is_set():
                continue
            try:
                count = self._reader(name).count(cancel=self._cancel)
                self.post_message(CountReady(name, count))
            except (DataFileError, OSError) as exc:
                self.post_message(CountReady(name, None, str(exc)))

    @on(CountReady)
    def _count_ready(self, message: CountReady) -> None:
        if message.name not in self.rows:
            return
        if message.error:
            self.errors[message.name] = message.error
        elif message.count is not None:
            self.totals[message.name] = message.count
        table = self.query_one("#datasets", DataTable)
        table.update_cell(message.name, "records", self._cells(self.rows[message.name])[1])
        if message.name == self.current:
            self._update_info()

    @on(DataTable.RowHighlighted, "#datasets")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value in self.rows:
            self._select(event.row_key.value)

    def _select(self, name: str) -> None:
        if name == self.current:
            return
        self.current, self.start, self.page, self.stats = name, 0, [], None
        self.query_one("#report", Static).update("")
        self.query_one("#stats-summary", Static).update("")
        self._clear_plot()
        self._load_page()

    # -- preview -----------------------------------------------------------------------
    def _show_message(self, text: str) -> None:
        self.query_one("#records-view", Static).update(text)
        self.query_one("#page-info", Static).update("")

    def _load_page(self) -> None:
        row = self.rows.get(self.current or "")
        if row is None:
            return
        if row.hub:
            source = next((f"{k}: {row.entry[k]}" for k in SOURCE_KEYS if row.entry.get(k)), "")
            self._show_message(self._t("datasets.hub_hosted", source=source))
            return
        if not row.exists:
            self._show_message(f"{row.path}: file not found")
            return
        self.query_one("#page-info", Static).update(self._t("datasets.loading"))
        self._read_page(row.name, self.start, self.page_size)

    @work(thread=True, exclusive=True, group="datasets-page", exit_on_error=False)
    def _read_page(self, name: str, start: int, count: int) -> None:
        try:
            reader = self._reader(name)
            page = reader.page(start, count)
            self.post_message(PageLoaded(name, start, page, reader.known_count()))
        except (DataFileError, OSError) as exc:
            self.post_message(PageLoaded(name, start, [], None, str(exc)))

    @on(PageLoaded)
    def _page_loaded(self, message: PageLoaded) -> None:
        if message.name != self.current or message.start != self.start:
            return
        if message.error:
            self.errors[message.name] = message.error
            self._show_message(message.error)
            return
        if message.total is not None:
            self.totals.setdefault(message.name, message.total)
        if not message.page and self.start > 0:
            total = self.totals.get(message.name)
            self.start = max(0, (total or 0) - self.page_size)
            self.notify(self._t("datasets.no_record", n=message.start, total=total), severity="warning")
            self._load_page()
            return
        self.page = message.page
        self._render_page()

    def _render_page(self) -> None:
        view = self.query_one("#records-view", Static)
        if not self.page:
            view.update(self._t("datasets.no_records"))
        else:
            view.update(render_page(self.page, expanded=self.expanded, lang=self.lang))
        self.query_one("#records", VerticalScroll).scroll_home(animate=False)
        self._update_info()

    def _update_info(self) -> None:
        row = self.rows.get(self.current or "")
        if row is None or row.hub or not row.exists or not self.page:
            return
        total = self.totals.get(row.name)
        info = self._t("datasets.page_info", first=self.page[0][0], last=self.page[-1][0],
                       total=total if total is not None else "…")
        size = row.size or 0
        edit = (self._t("datasets.preview_only", size=human_size(size), limit=human_size(self.edit_limit))
                if size > self.edit_limit or (row.path and row.path.is_dir()) else self._t("datasets.editable"))
        self.query_one("#page-info", Static).update(f"{info} · {edit}")

    def action_next_page(self) -> None:
        if self.page and len(self.page) == self.page_size:
            self.start = self.page[-1][0] + 1
            self._load_page()

    def action_prev_page(self) -> None:
        if self.start > 0:
            self.start = max(0, self.start - self.page_size)
            self._load_page()

    def action_jump(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "tab-preview"
        self.query_one("#jump", Input).focus()

    @on(Input.Submitted, "#jump")
    def _jumped(self, event: Input.Submitted) -> None:
        try:
            target = int(event.value)
        except ValueError:
            return
        event.input.value = ""
        self.query_one("#datasets", DataTable).focus()
        self.start = max(0, target)
        self._load_page()

    def action_expand(self) -> None:
        self.expanded = not self.expanded
        if self.page:
            self._render_page()

    def action_refresh(self) -> None:
        self._reload(select=self.current)

    # -- registry edits ----------------------------------------------------------------
    def _writable(self) -> bool:
        if self.registry.read_only:
            self.notify(self._t("datasets.refused"), severity="error")
            return False
        return True

    def action_register(self) -> None:
        if not self._writable():
            return
        form = EntryForm(self.registry.path.parent, self.lang, existing=set(self.rows))
        self.app.push_screen(form, self._entry_saved)

    def action_edit_entry(self) -> None:
        if not self._writable() or self.current is None:
            return
        form = EntryForm(self.registry.path.parent, self.lang, name=self.current,
                         entry=self.registry.get(self.current), existing=set(self.rows))
        self.app.push_screen(form, self._entry_saved)

    def _entry_saved(self, result: tuple[str, dict] | None) -> None:
        if result is None:
            return
        name, entry = result
        try:
            self.registry.reload()
            if name in self.registry:
                self.registry.update(name, entry)
                self.notify(self._t("datasets.updated", name=name))
            else:
                self.registry.add(name, entry)
                self.notify(self._t("datasets.registered", name=name))
        except MedtuiError as exc:
            self.notify(str(exc), severity="error")
        self._reload(select=name)

    def action_remove(self) -> None:
        if not self._writable() or self.current is None:
            return
        name = self.current

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.registry.reload()
                self.registry.remove(name)
                self.notify(self._t("datasets.removed", name=name))
            except MedtuiError as exc:
                self.notify(str(exc), severity="error")
            self._reload()

        self.app.push_screen(ConfirmRemove(name, self.lang), confirmed)

    def action_new_file(self) -> None:
        if not self._writable():
            return

        def created(result: tuple[str, str, str | None] | None) -> None:
            if result is None:
                return
            name, kind, file = result
            try:
                self.registry.reload()
                path = create_dataset(self.registry, name, kind, file)
            except MedtuiError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(self._t("datasets.created", file=self.workspace.relative(path), name=name))
            self._reload(select=name)
            self.action_edit_records()

        self.app.push_screen(NewDatasetForm(self.lang), created)

    def action_edit_records(self) -> None:
        row = self.rows.get(self.current or "")
        if row is None or row.path is None:
            return
        try:
            document = DatasetDocument.load(row.path, self.edit_limit)
        except TooLargeToEdit as exc:
            self.notify(str(exc), severity="warning")
            return
        except MedtuiError as exc:
            self.notify(str(exc), severity="error")
            return
        kind = next((k for k, (_blank, entry, *_r) in SCHEMAS.items()
                     if entry.get("columns") == row.entry.get("columns")), "sft")
        editor = RecordsEditor(document, dict(SCHEMAS[kind][0]), self.workspace.relative(row.path), self.lang)
        name = row.name

        def closed(saved: bool | None) -> None:
            if saved:
                self._reload(select=name)

        self.app.push_screen(editor, closed)

    # -- validation --------------------------------------------------------------------
    def action_validate(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "tab-validate"
        self._run_validation()

    @on(Button.Pressed, "#run-validate")
    def _run_validation(self) -> None:
        row = self.rows.get(self.current or "")
        if row is None or row.path is None:
            return
        stage = str(self.query_one("#stage", Select).value)
        model = self.query_one("#model", Select).value
        try:
            cutoff = int(self.query_one("#cutoff", Input).value or ARG_BY_NAME["cutoff_len"].default)
        except ValueError:
            cutoff = ARG_BY_NAME["cutoff_len"].default
        self.query_one("#report", Static).update(self._t("datasets.working"))
        self._validate(row.name, row.path, row.entry, stage, None if model is Select.NULL else str(model), cutoff)

    @work(thread=True, exclusive=True, group="datasets-validate", exit_on_error=False)
    def _validate(self, name: str, path, entry: dict, stage: str, model: str | None, cutoff: int) -> None:
        from medtui.core.data.validation import validate_dataset

        try:
            report = validate_dataset(path, entry, stage, name=name, model=model, cutoff_len=cutoff,
                                      cancel=self._cancel)
            if report is not None:
                self.post_message(ValidationDone(name, report))
        except (MedtuiError, OSError) as exc:
            self.post_message(ValidationDone(name, error=str(exc)))

    @on(ValidationDone)
    def _validated(self, message: ValidationDone) -> None:
        if message.name != self.current:
            return
        report = self.query_one("#report", Static)
        if message.error:
            report.update(f"[red]{message.error}[/red]")
            return
        from rich.text import Text

        colours = {"error": "red", "warn": "yellow", "info": "cyan"}
        lines = message.report.lines(self.lang)
        text = Text(lines[0] + "\n", style="bold")
        for finding, line in zip(message.report.findings, lines[1:]):
            text.append(line + "\n", style=colours.get(finding.level, ""))
        if not message.report.findings:
            text.append(lines[1], style="green")
        report.update(text)

    # -- statistics --------------------------------------------------------------------
    def action_stats(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "tab-stats"
        self._run_stats()

    @on(Button.Pressed, "#run-stats")
    def _run_stats(self) -> None:
        row = self.rows.get(self.current or "")
        if row is None or row.path is None:
            return
        model = self.query_one("#stats-model", Select).value
        self.query_one("#stats-summary", Static).update(self._t("datasets.working"))
        self._compute_stats(row.name, row.path, row.entry, None if model is Select.NULL else str(model))

    @work(thread=True, exclusive=True, group="datasets-stats", exit_on_error=False)
    def _compute_stats(self, name: str, path, entry: dict, model: str | None) -> None:
        from medtui.core.data.stats import dataset_stats

        try:
            stats = dataset_stats(path, entry, model=model, cancel=self._cancel)
            if stats is not None:
                self.post_message(StatsDone(name, stats))
        except (DataFileError, MedtuiError, OSError) as exc:
            self.post_message(StatsDone(name, error=str(exc)))

    @on(StatsDone)
    def _stats_done(self, message: StatsDone) -> None:
        if message.name != self.current:
            return
        summary = self.query_one("#stats-summary", Static)
        if message.error:
            summary.update(f"[red]{message.error}[/red]")
            return
        self.stats = message.stats
        summary.update("\n".join(format_stats(self.stats, self.lang)))
        fields = list(self.stats["chars"]["fields"])
        select = self.query_one("#field", Select)
        value = select.value if select.value in fields else "record"
        select.set_options([(f, f) for f in fields])
        select.value = value
        self._plot()

    @on(Select.Changed, "#field")
    @on(Select.Changed, "#unit")
    def _plot(self) -> None:
        if not self.stats:
            return
        unit = str(self.query_one("#unit", Select).value)
        field = str(self.query_one("#field", Select).value)
        summary = self.stats.get(unit) or {}
        data = summary.get("fields", {}).get(field)
        plot = self.query_one("#histogram", PlotextPlot)
        plt = plot.plt
        plt.clear_figure()
        if not data:
            self.plotted = (self._t("datasets.no_model") if unit == "tokens" else "-", [])
        else:
            edges, counts = data["edges"], data["counts"]
            plt.bar([str(e) for e in edges[:-1]], counts)
            self.plotted = (self._t("datasets.histogram", field=field, unit=self._t(f"datasets.{unit}")), counts)
        plt.title(self.plotted[0])
        plot.refresh()

    def _clear_plot(self) -> None:
        plot = self.query_one("#histogram", PlotextPlot)
        plot.plt.clear_figure()
        plot.refresh()
