"""The Datasets screen's tabs: Preview (pages of records), Validate and Stats of the highlighted dataset.

Each pane shows the dataset the screen hands it with :meth:`DatasetPane.show`, reads in its own
thread workers and owns its state; the shared :class:`Catalog` holds the list's rows, record
counts and the per-dataset readers (whose index grows as pages are asked for).
"""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Select, Static, TabPane
from textual_plotext import PlotextPlot

from medtui.core.data.document import EDIT_LIMIT
from medtui.core.data.files import DataFileError
from medtui.core.data.fit import TRAIN_STAGES
from medtui.core.data.listing import DatasetRow, human_size
from medtui.core.data.reader import DatasetReader
from medtui.core.data.registry import SOURCE_KEYS
from medtui.core.data.stats import format_stats
from medtui.core.errors import MedtuiError
from medtui.core.stages.spec import ARG_BY_NAME, stage_title
from medtui.core.workspace import Workspace
from medtui.tui.screens.base import Localised, relabel_select
from medtui.tui.screens.datasets.text import render_page


class Catalog:
    """What the list knows about each dataset: its row, record count or read error, and a reader."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.rows: dict[str, DatasetRow] = {}
        self.totals: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        self.cancel = threading.Event()
        self._readers: dict[str, DatasetReader] = {}
        self._lock = threading.Lock()

    def reset(self, rows: list[DatasetRow]) -> None:
        self.rows = {row.name: row for row in rows}
        with self._lock:
            self._readers.clear()
        self.totals.clear()
        self.errors.clear()

    def reader(self, name: str) -> DatasetReader:
        with self._lock:
            reader = self._readers.get(name)
            if reader is None:
                reader = DatasetReader(self.rows[name].path, self.workspace.state_dir / "cache" / "index")
                self._readers[name] = reader
            return reader


def model_options(workspace: Workspace) -> list[tuple[str, str]]:
    """Model folders with a tokenizer, for the token-based checks."""
    return [(workspace.relative(p), str(p)) for p in workspace.model_dirs()
            if (p / "tokenizer.json").is_file() or (p / "tokenizer_config.json").is_file()]


class DatasetPane(Localised, TabPane):
    """A tab about the dataset highlighted in the list."""

    def __init__(self, title_key: str, catalog: Catalog, lang: str, *, id: str) -> None:
        super().__init__("", id=id)
        self.catalog = catalog
        self.lang = lang
        self.row: DatasetRow | None = None
        self.tr(self, title_key)

    def show(self, row: DatasetRow | None) -> None:
        """Show ``row`` (None: nothing is selected)."""
        self.row = row

    def worker_failed(self, group: str, error: BaseException) -> None:
        """A read failed unexpectedly: say so where its result would have been (the app notified too)."""
        from medtui.tui.errors import one_line

        self.failed(one_line(error))

    def failed(self, reason: str) -> None:
        """Show ``reason`` in place of this pane's result."""


# -- preview ---------------------------------------------------------------------------------
class PageLoaded(Message):
    def __init__(self, name: str, start: int, page: list[tuple[int, dict]], total: int | None,
                 error: str | None = None):
        super().__init__()
        self.name, self.start, self.page, self.total, self.error = name, start, page, total, error


class PreviewPane(DatasetPane):
    """Pages of records; ``]``/``[`` page, ``g`` jumps to a record, ``x`` expands long fields."""

    def __init__(self, catalog: Catalog, lang: str, *, page_size: int = 5, edit_limit: int = EDIT_LIMIT) -> None:
        super().__init__("datasets.preview", catalog, lang, id="tab-preview")
        self.page_size, self.edit_limit = page_size, edit_limit
        self.start = 0
        self.page: list[tuple[int, dict]] = []
        self.expanded = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="page-bar"):
            yield Static("", id="page-info")
            yield self.tr(Input(id="jump", type="integer", compact=True), "datasets.jump_to")
        with VerticalScroll(id="records"):
            yield Static("", id="records-view")

    def show(self, row: DatasetRow | None) -> None:
        super().show(row)
        self.start, self.page = 0, []
        if row is None:
            self.show_message(self.t("datasets.no_dataset"))
        else:
            self.load_page()

    def relabel(self) -> None:
        if self.page:
            self.render_page()
        elif self.row is None:
            self.show_message(self.t("datasets.no_dataset"))
        else:
            self.load_page()

    def failed(self, reason: str) -> None:
        self.show_message(reason)

    def show_message(self, text: str) -> None:
        self.query_one("#records-view", Static).update(text)
        self.query_one("#page-info", Static).update("")

    def load_page(self) -> None:
        row = self.row
        if row is None:
            return
        if row.problem:
            self.show_message(self.t("datasets.bad_entry", name=row.name, problem=row.problem))
            return
        if row.hub:
            source = next((f"{k}: {row.entry[k]}" for k in SOURCE_KEYS if row.entry.get(k)), "")
            self.show_message(self.t("datasets.hub_hosted", source=source))
            return
        if not row.exists:
            self.show_message(f"{row.path}: file not found")
            return
        self.query_one("#page-info", Static).update(self.t("datasets.loading"))
        self._read_page(row.name, self.start, self.page_size)

    @work(thread=True, exclusive=True, group="datasets-page", exit_on_error=False)
    def _read_page(self, name: str, start: int, count: int) -> None:
        try:
            reader = self.catalog.reader(name)
            page = reader.page(start, count)
            self.post_message(PageLoaded(name, start, page, reader.known_count()))
        except (DataFileError, OSError) as exc:
            self.post_message(PageLoaded(name, start, [], None, str(exc)))

    @on(PageLoaded)
    def _page_loaded(self, message: PageLoaded) -> None:
        if self.row is None or message.name != self.row.name or message.start != self.start:
            return
        if message.error:
            self.catalog.errors[message.name] = message.error
            self.show_message(message.error)
            return
        if message.total is not None:
            self.catalog.totals.setdefault(message.name, message.total)
        if not message.page and self.start > 0:
            total = self.catalog.totals.get(message.name)
            self.start = max(0, (total or 0) - self.page_size)
            self.notify(self.t("datasets.no_record", n=message.start, total=total), severity="warning")
            self.load_page()
            return
        self.page = message.page
        self.render_page()

    def render_page(self) -> None:
        view = self.query_one("#records-view", Static)
        if not self.page:
            view.update(self.t("datasets.no_records"))
        else:
            view.update(render_page(self.page, expanded=self.expanded, lang=self.lang))
        self.query_one("#records", VerticalScroll).scroll_home(animate=False)
        self.update_info()

    def update_info(self) -> None:
        row = self.row
        if row is None or row.hub or not row.exists or not self.page:
            return
        total = self.catalog.totals.get(row.name)
        info = self.t("datasets.page_info", first=self.page[0][0], last=self.page[-1][0],
                       total=total if total is not None else "…")
        size = row.size or 0
        edit = (self.t("datasets.preview_only", size=human_size(size), limit=human_size(self.edit_limit))
                if size > self.edit_limit or (row.path and row.path.is_dir()) else self.t("datasets.editable"))
        self.query_one("#page-info", Static).update(f"{info} · {edit}")

    def next_page(self) -> None:
        if self.page and len(self.page) == self.page_size:
            self.start = self.page[-1][0] + 1
            self.load_page()

    def prev_page(self) -> None:
        if self.start > 0:
            self.start = max(0, self.start - self.page_size)
            self.load_page()

    def focus_jump(self) -> None:
        self.query_one("#jump", Input).focus()

    @on(Input.Submitted, "#jump")
    def _jumped(self, event: Input.Submitted) -> None:
        try:
            target = int(event.value)
        except ValueError:
            return
        event.input.value = ""
        self.screen.query_one("#datasets").focus()
        self.start = max(0, target)
        self.load_page()

    def toggle_expanded(self) -> None:
        self.expanded = not self.expanded
        if self.page:
            self.render_page()


# -- validation ------------------------------------------------------------------------------
class ValidationDone(Message):
    def __init__(self, name: str, report: Any = None, error: str | None = None):
        super().__init__()
        self.name, self.report, self.error = name, report, error


class ValidatePane(DatasetPane):
    """Checks the records against a stage (and a tokenizer, for lengths over cutoff_len)."""

    def __init__(self, catalog: Catalog, lang: str) -> None:
        super().__init__("datasets.validate", catalog, lang, id="tab-validate")
        self.validated: ValidationDone | None = None

    def relabel(self) -> None:
        relabel_select(self.query_one("#stage", Select), self._stages())
        if self.validated is not None:
            self._validated(self.validated)

    def _stages(self) -> list[tuple[str, str]]:
        return [(f"{s} · {stage_title(s, self.lang)}", s) for s in TRAIN_STAGES]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="controls"):
            yield Select(self._stages(), value="sft", allow_blank=False, id="stage", compact=True)
            yield self.tr(Select(model_options(self.catalog.workspace), id="model", compact=True),
                          "datasets.no_model_short")
            yield self.tr(Input(str(ARG_BY_NAME["cutoff_len"].default), id="cutoff", type="integer", compact=True),
                          "datasets.cutoff")
            yield self.tr(Button("", id="run-validate", variant="primary", compact=True), "datasets.run_validate")
        with VerticalScroll(id="report-scroll"):
            yield Static("", id="report")

    def show(self, row: DatasetRow | None) -> None:
        super().show(row)
        self.validated = None
        self.query_one("#report", Static).update("")

    def failed(self, reason: str) -> None:
        self.query_one("#report", Static).update(Text(reason, style="red"))

    @on(Button.Pressed, "#run-validate")
    def run(self) -> None:
        row = self.row
        if row is None or row.path is None:
            return
        stage = str(self.query_one("#stage", Select).value)
        model = self.query_one("#model", Select).value
        try:
            cutoff = int(self.query_one("#cutoff", Input).value or ARG_BY_NAME["cutoff_len"].default)
        except ValueError:
            cutoff = ARG_BY_NAME["cutoff_len"].default
        self.query_one("#report", Static).update(self.t("datasets.working"))
        self._validate(row.name, row.path, row.entry, stage, None if model is Select.NULL else str(model), cutoff)

    @work(thread=True, exclusive=True, group="datasets-validate", exit_on_error=False)
    def _validate(self, name: str, path, entry: dict, stage: str, model: str | None, cutoff: int) -> None:
        from medtui.core.data.validation import validate_dataset

        try:
            report = validate_dataset(path, entry, stage, name=name, model=model, cutoff_len=cutoff,
                                      cancel=self.catalog.cancel)
            if report is not None:
                self.post_message(ValidationDone(name, report))
        except (MedtuiError, OSError) as exc:
            self.post_message(ValidationDone(name, error=str(exc)))

    @on(ValidationDone)
    def _validated(self, message: ValidationDone) -> None:
        if self.row is None or message.name != self.row.name:
            return
        self.validated = message
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


# -- statistics ------------------------------------------------------------------------------
class StatsDone(Message):
    def __init__(self, name: str, stats: dict | None = None, error: str | None = None):
        super().__init__()
        self.name, self.stats, self.error = name, stats, error


class StatsPane(DatasetPane):
    """Length statistics and a histogram per field, in characters or tokens."""

    def __init__(self, catalog: Catalog, lang: str) -> None:
        super().__init__("datasets.stats", catalog, lang, id="tab-stats")
        self.stats: dict | None = None
        self.plotted: tuple[str, list[int]] | None = None  # (title, bar heights) of the histogram shown

    def compose(self) -> ComposeResult:
        with Horizontal(classes="controls"):
            yield self.tr(Select(model_options(self.catalog.workspace), id="stats-model", compact=True),
                          "datasets.no_model_short")
            yield Select([("record", "record")], value="record", allow_blank=False, id="field", compact=True)
            yield Select(self._units(), value="chars", allow_blank=False, id="unit", compact=True)
            yield self.tr(Button("", id="run-stats", variant="primary", compact=True), "datasets.run_stats")
        with Horizontal(id="stats-body"):
            with VerticalScroll(id="stats-scroll"):
                yield Static("", id="stats-summary")
            yield PlotextPlot(id="histogram")

    def _units(self) -> list[tuple[str, str]]:
        return [(self.t("datasets.chars"), "chars"), (self.t("datasets.tokens"), "tokens")]

    def relabel(self) -> None:
        relabel_select(self.query_one("#unit", Select), self._units())
        if self.stats:
            self.query_one("#stats-summary", Static).update("\n".join(format_stats(self.stats, self.lang)))
            self.plot()

    def show(self, row: DatasetRow | None) -> None:
        super().show(row)
        self.stats = None
        self.query_one("#stats-summary", Static).update("")
        plot = self.query_one("#histogram", PlotextPlot)
        plot.plt.clear_figure()
        plot.refresh()

    def failed(self, reason: str) -> None:
        self.query_one("#stats-summary", Static).update(Text(reason, style="red"))

    @on(Button.Pressed, "#run-stats")
    def run(self) -> None:
        row = self.row
        if row is None or row.path is None:
            return
        model = self.query_one("#stats-model", Select).value
        self.query_one("#stats-summary", Static).update(self.t("datasets.working"))
        self._compute_stats(row.name, row.path, row.entry, None if model is Select.NULL else str(model))

    @work(thread=True, exclusive=True, group="datasets-stats", exit_on_error=False)
    def _compute_stats(self, name: str, path, entry: dict, model: str | None) -> None:
        from medtui.core.data.stats import dataset_stats

        try:
            stats = dataset_stats(path, entry, model=model, cancel=self.catalog.cancel)
            if stats is not None:
                self.post_message(StatsDone(name, stats))
        except (DataFileError, MedtuiError, OSError) as exc:
            self.post_message(StatsDone(name, error=str(exc)))

    @on(StatsDone)
    def _stats_done(self, message: StatsDone) -> None:
        if self.row is None or message.name != self.row.name:
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
        self.plot()

    @on(Select.Changed, "#field")
    @on(Select.Changed, "#unit")
    def plot(self) -> None:
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
            self.plotted = (self.t("datasets.no_model") if unit == "tokens" else "-", [])
        else:
            edges, counts = data["edges"], data["counts"]
            plt.bar([str(e) for e in edges[:-1]], counts)
            self.plotted = (self.t("datasets.histogram", field=field, unit=self.t(f"datasets.{unit}")), counts)
        plt.title(self.plotted[0])
        plot.refresh()
