"""The Datasets screen: the registry's list, register/edit/remove, and tabs about the highlighted dataset.

The list fills its record counts from a background worker; the tabs (:mod:`.panes`) preview,
validate and measure the highlighted dataset, and the Render tab (:mod:`.render`) shows a record
as the model sees it; the dialogs (:mod:`.forms`, :mod:`.editor`) edit the
registry and small data files. Reading runs in thread workers that post messages; the ``@on``
handlers own the screen's state.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Static, TabbedContent

from medtui.core.data.document import EDIT_LIMIT, DatasetDocument, TooLargeToEdit
from medtui.core.data.files import DataFileError
from medtui.core.data.listing import DatasetRow, human_size, list_datasets
from medtui.core.data.schema import SCHEMAS, create_dataset
from medtui.core.errors import MedtuiError
from medtui.core.workspace import Workspace
from medtui.tui.keymap import bind
from medtui.tui.screens.base import MedtuiScreen
from medtui.tui.screens.datasets.editor import RecordsEditor
from medtui.tui.screens.datasets.forms import ConfirmRemove, EntryForm, NewDatasetForm
from medtui.tui.screens.datasets.panes import Catalog, PreviewPane, StatsPane, ValidatePane
from medtui.tui.screens.datasets.render import RenderPane
from medtui.tui.widgets.footer import MedtuiFooter


class CountReady(Message):
    def __init__(self, name: str, count: int | None, error: str | None = None):
        super().__init__()
        self.name, self.count, self.error = name, count, error


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


class DatasetsScreen(MedtuiScreen):
    NAME = "datasets"
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
        bind("datasets.register", "register"),
        bind("datasets.edit_entry", "edit_entry"),
        bind("datasets.remove", "remove"),
        bind("datasets.new_file", "new_file"),
        bind("datasets.edit_records", "edit_records"),
        bind("datasets.next_page", "next_page"),
        bind("datasets.prev_page", "prev_page"),
        bind("datasets.jump", "jump"),
        bind("datasets.expand", "expand"),
        bind("datasets.validate", "validate"),
        bind("datasets.stats", "stats"),
        bind("datasets.render", "render"),
        bind("datasets.refresh", "refresh"),
    ]

    def __init__(self, workspace: Workspace, lang: str = "en", *, page_size: int = 5, edit_limit: int = EDIT_LIMIT):
        super().__init__(workspace, lang)
        self.page_size, self.edit_limit = page_size, edit_limit
        self.registry = workspace.registry()
        self.catalog = Catalog(workspace)
        self.current: str | None = None

    @property
    def rows(self) -> dict[str, DatasetRow]:
        return self.catalog.rows

    @property
    def totals(self) -> dict[str, int]:
        return self.catalog.totals

    @property
    def preview(self) -> PreviewPane:
        return self.query_one(PreviewPane)

    @property
    def validation(self) -> ValidatePane:
        return self.query_one(ValidatePane)

    @property
    def statistics(self) -> StatsPane:
        return self.query_one(StatsPane)

    @property
    def rendering(self) -> RenderPane:
        return self.query_one(RenderPane)

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield self.navbar()
        yield Static("", id="banner")
        yield DataTable(id="datasets", cursor_type="row", zebra_stripes=True)
        with TabbedContent(id="tabs"):
            yield PreviewPane(self.catalog, self.lang, page_size=self.page_size, edit_limit=self.edit_limit)
            yield ValidatePane(self.catalog, self.lang)
            yield StatsPane(self.catalog, self.lang)
            yield RenderPane(self.catalog, self.lang)
        yield MedtuiFooter()

    def on_mount(self) -> None:
        table = self.query_one("#datasets", DataTable)
        for key in COLUMNS:
            table.add_column(self.t(f"datasets.{key}"), key=key)
        self._reload()

    def on_unmount(self) -> None:
        self.catalog.cancel.set()

    # -- list --------------------------------------------------------------------------
    def relabel(self) -> None:
        self._show_banner()
        table = self.query_one("#datasets", DataTable)
        for key in COLUMNS:
            table.columns[key].label = Text(self.t(f"datasets.{key}"))
        for row in self.rows.values():
            for key, cell in zip(COLUMNS, self._cells(row)):
                table.update_cell(row.name, key, cell)
        table.refresh()

    def _reload(self, select: str | None = None) -> None:
        self.registry.reload()
        self._show_banner()
        self.catalog.reset(list_datasets(self.registry))
        self._fill_table(select)

    def _show_banner(self) -> None:
        banner = self.query_one("#banner", Static)
        rel = self.workspace.relative(self.registry.path)
        if self.registry.error:
            banner.update(f"{self.t('datasets.title')} · {rel} · {self.t('datasets.read_only')}\n"
                          + self.t("datasets.registry_error", error=self.registry.error))
            banner.add_class("error")
        else:
            banner.update(f"{self.t('datasets.title')} · {rel}")
            banner.remove_class("error")

    def _fill_table(self, select: str | None) -> None:
        table = self.query_one("#datasets", DataTable)
        table.clear()
        for row in self.rows.values():
            table.add_row(*self._cells(row), key=row.name)
        names = list(self.rows)
        select = getattr(self, "_wanted", None) or select
        self._wanted = None
        if select in self.rows:
            table.move_cursor(row=names.index(select))
        self.current = None
        if names:
            self._select(names[table.cursor_row] if table.cursor_row < len(names) else names[0])
        else:
            self._show(None)
        self._count_all()

    def _cells(self, row: DatasetRow) -> tuple[str, ...]:
        if row.problem:
            exists = self.t("datasets.bad")
        elif row.hub:
            exists = self.t("datasets.hub")
        else:
            exists = self.t("datasets.yes") if row.exists else self.t("datasets.missing")
        if row.name in self.catalog.errors:
            records = "error"
        elif row.name in self.totals:
            records = str(self.totals[row.name])
        else:
            records = self.t("datasets.counting") if row.exists else "-"
        return (_clip_start(row.name, 24), records, ",".join(row.stages) or "-", row.formatting,
                self.t("datasets.yes") if row.ranking else self.t("datasets.no"), human_size(row.size), exists,
                _clip_start(row.source, 32, keep_end=True))

    @work(thread=True, exclusive=True, group="datasets-count", exit_on_error=False)
    def _count_all(self) -> None:
        for name, row in list(self.rows.items()):
            if not row.exists or self.catalog.cancel.is_set():
                continue
            try:
                count = self.catalog.reader(name).count(cancel=self.catalog.cancel)
                self.post_message(CountReady(name, count))
            except (DataFileError, OSError) as exc:
                self.post_message(CountReady(name, None, str(exc)))

    @on(CountReady)
    def _count_ready(self, message: CountReady) -> None:
        if message.name not in self.rows:
            return
        if message.error:
            self.catalog.errors[message.name] = message.error
        elif message.count is not None:
            self.totals[message.name] = message.count
        table = self.query_one("#datasets", DataTable)
        table.update_cell(message.name, "records", self._cells(self.rows[message.name])[1])
        if message.name == self.current:
            self.preview.update_info()

    @on(DataTable.RowHighlighted, "#datasets")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value in self.rows:
            self._select(event.row_key.value)

    def show_dataset(self, name: str) -> None:
        """Highlight dataset ``name`` (the palette's "Open dataset"); before the list is read, once it is."""
        self._wanted = name
        if self.is_mounted and name in self.rows:
            self.query_one("#datasets", DataTable).move_cursor(row=list(self.rows).index(name))
            self._wanted = None

    def _select(self, name: str) -> None:
        if name == self.current:
            return
        self.current = name
        self._show(self.rows[name])

    def _show(self, row: DatasetRow | None) -> None:
        for pane in (self.preview, self.validation, self.statistics, self.rendering):
            pane.show(row)

    # -- preview (and the Render tab's records) ----------------------------------------
    def _on_render_tab(self) -> bool:
        return self.query_one("#tabs", TabbedContent).active == "tab-render"

    def action_next_page(self) -> None:
        if self._on_render_tab():
            self.rendering.step(1)
        else:
            self.preview.next_page()

    def action_prev_page(self) -> None:
        if self._on_render_tab():
            self.rendering.step(-1)
        else:
            self.preview.prev_page()

    def action_jump(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "tab-preview"
        self.preview.focus_jump()

    def action_expand(self) -> None:
        self.preview.toggle_expanded()

    def action_refresh(self) -> None:
        self._reload(select=self.current)

    # -- registry edits ----------------------------------------------------------------
    def _writable(self) -> bool:
        if self.registry.read_only:
            self.notify(self.t("datasets.refused"), severity="error")
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
        row = self.rows.get(self.current)
        if row is not None and row.problem:  # the form cannot hold an entry of the wrong shape
            self.notify(self.t("datasets.bad_entry", name=row.name, problem=row.problem), severity="error", timeout=10)
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
                self.notify(self.t("datasets.updated", name=name))
            else:
                self.registry.add(name, entry)
                self.notify(self.t("datasets.registered", name=name))
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
                self.notify(self.t("datasets.removed", name=name))
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
            self.notify(self.t("datasets.created", file=self.workspace.relative(path), name=name))
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

    # -- validation and statistics -----------------------------------------------------
    def action_validate(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "tab-validate"
        self.validation.run()

    def action_stats(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "tab-stats"
        self.statistics.run()

    def action_render(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "tab-render"
        self.rendering.render_now()
