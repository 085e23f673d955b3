"""The Models screen's tabs: Download (ModelScope or Hugging Face, with live progress) and Check a model.

The download runs in :class:`medtui.core.hub.download.Download` (a worker process); a thread worker
reads its events and posts snapshots (only the newest is kept, ``can_replace``). Cancel
terminates the process; starting the same download again resumes. After a dataset download the
pane offers to register the detected files in ``dataset_info.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    Label,
    OptionList,
    ProgressBar,
    RadioButton,
    RadioSet,
    Static,
    TabPane,
)

from medtui.core.errors import MedtuiError
from medtui.core.hub import download
from medtui.core.workspace import Workspace
from medtui.tui.screens.base import Localised
from medtui.tui.screens.models.text import TEXT

JobFactory = Callable[[download.DownloadRequest], Any]


@dataclass(frozen=True)
class FileRow:
    path: str
    size: int | None
    fraction: float
    state: str  # queued, active, done, skipped, failed


@dataclass(frozen=True)
class View:
    """An immutable snapshot of a DownloadState, safe to hand from the worker thread to the UI."""

    status: str
    message: str
    error_kind: str
    summary: str
    fraction: float
    files: tuple[FileRow, ...]
    skipped: int

    @classmethod
    def of(cls, state: download.DownloadState) -> "View":
        rows = []
        for f in state.files.values():
            kind = ("failed" if f.path in state.failed else "skipped" if f.skipped else "done" if f.complete
                    else "active" if f.active or f.bytes else "queued")
            rows.append(FileRow(f.path, f.size, f.fraction, kind))
        skipped = sum(1 for f in state.files.values() if f.skipped)
        return cls(state.status, state.message, state.error_kind, state.summary(), state.fraction, tuple(rows), skipped)


class ModelsPane(Localised, TabPane):
    def __init__(self, title_key: str, workspace: Workspace, lang: str, *, id: str) -> None:
        super().__init__("", id=id)
        self.workspace = workspace
        self.lang = lang
        self.tr(self, title_key)


class DownloadPane(ModelsPane):
    """The download form, its progress and files, and Register after a dataset download."""

    class Progress(Message):
        def __init__(self, view: View) -> None:
            super().__init__()
            self.view = view

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, DownloadPane.Progress)

    class Finished(Message):
        def __init__(self, view: View, suggestions: list) -> None:
            super().__init__()
            self.view = view
            self.suggestions = suggestions

    class StateChanged(Message):
        """A download started or finished, or a Register became possible (the footer follows)."""

    def __init__(self, workspace: Workspace, lang: str, *, start_download: JobFactory | None = None) -> None:
        super().__init__("models.download_tab", workspace, lang, id="tab-download")
        self.start_download = start_download or (lambda req: download.Download(req))
        self.job: Any = None
        self.request: download.DownloadRequest | None = None
        self.view: View | None = None
        self.suggestions: list = []
        self._rows: dict[str, FileRow] = {}
        self._say: Callable[[], str] = lambda: self.t("models.idle")

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            with RadioSet(id="dl-kind", compact=True):
                yield self.tr(RadioButton("", value=True, id="kind-model"), "models.model")
                yield self.tr(RadioButton("", id="kind-dataset"), "models.dataset")
            with RadioSet(id="dl-hub", compact=True):
                yield RadioButton("ModelScope", value=True, id="hub-modelscope")
                yield RadioButton("Hugging Face", id="hub-hf")
        with Horizontal(classes="row"):
            yield self.tr(Label(), "models.id")
            yield self.tr(Input(id="dl-id", compact=True), "models.id_hint")
            yield self.tr(Input(id="dl-revision", compact=True), "models.revision")
        with Horizontal(classes="row"):
            yield self.tr(Label(), "models.include")
            yield self.tr(Input(id="dl-include", compact=True), "models.globs")
            yield self.tr(Label(), "models.exclude")
            yield self.tr(Input(id="dl-exclude", compact=True), "models.globs")
        with Horizontal(classes="row"):
            yield self.tr(Label(), "models.endpoint")
            yield self.tr(Input(download.default_endpoint() or "", id="dl-endpoint", compact=True), "models.endpoint_hint")
        with Horizontal(classes="row", id="dl-actions"):
            yield self.tr(Button("", id="dl-start", variant="primary", compact=True), "models.start")
            yield self.tr(Button("", id="dl-cancel", compact=True, disabled=True), "models.cancel")
            yield Static("", id="dl-dest")
        with Horizontal(id="dl-progress-row"):
            yield ProgressBar(total=100, show_eta=False, id="dl-bar")
            yield Static("", id="dl-summary")
        yield DataTable(id="dl-files", cursor_type="row")
        yield Static(self.t("models.idle"), id="dl-status", markup=False)
        yield self.tr(Button("", id="dl-register", compact=True), "models.register_files")

    def on_mount(self) -> None:
        files = self.query_one("#dl-files", DataTable)
        files.add_column(self.t("models.file"), key="file")
        files.add_column(self.t("models.size"), key="size", width=10)
        files.add_column(self.t("models.progress"), key="progress", width=8)
        files.add_column(self.t("models.state"), key="state", width=18)

    def on_unmount(self) -> None:
        """Leaving the screen stops a running download (it resumes when started again)."""
        if self.job is not None:
            self.job.cancel()

    def _form_request(self) -> download.DownloadRequest:
        value = lambda wid: self.query_one(wid, Input).value.strip()  # noqa: E731
        kind = "dataset" if self.query_one("#kind-dataset", RadioButton).value else "model"
        hub = "hf" if self.query_one("#hub-hf", RadioButton).value else "modelscope"
        return download.make_request(self.workspace, kind, value("#dl-id"), revision=value("#dl-revision") or None,
                                     include=value("#dl-include").split(), exclude=value("#dl-exclude").split(),
                                     endpoint=value("#dl-endpoint") or None, hub=hub)

    @on(Button.Pressed, "#dl-start")
    @on(Input.Submitted, "#dl-id")
    def start(self) -> None:
        if self.job is not None:
            return
        try:
            request = self._form_request()
        except MedtuiError as exc:
            reason = str(exc)
            self._status(lambda: reason, "error")
            return
        self.request = request
        self.suggestions = []
        self._rows.clear()
        self.query_one("#dl-files", DataTable).clear()
        self.query_one("#dl-register").remove_class("visible")
        self.query_one("#dl-bar", ProgressBar).update(progress=0)
        self.query_one("#dl-summary", Static).update("")
        self.query_one("#dl-dest", Static).update(self.t("models.to", dest=self.workspace.relative(request.dest)))
        self._status(lambda: self.t("models.listing"))
        self._set_running(True)
        self.job = self.start_download(request)
        self._download_worker(self.job)

    def _set_running(self, running: bool) -> None:
        self.query_one("#dl-start", Button).disabled = running
        self.query_one("#dl-cancel", Button).disabled = not running
        self.post_message(self.StateChanged())

    def worker_failed(self, group: str, error: BaseException) -> None:
        if group == "download":
            from medtui.tui.errors import one_line

            reason = one_line(error)
            self.job = None
            self._set_running(False)
            self._status(lambda: reason, "error")

    @work(thread=True, exclusive=True, group="download", exit_on_error=False)
    def _download_worker(self, job) -> None:
        try:
            for _ in job.events():
                self.post_message(self.Progress(View.of(job.state)))
        finally:
            job.close()
        suggestions = []
        request = job.state.request
        if job.state.status == "done" and request is not None and request.kind == "dataset":
            from medtui.core.data.detect import suggest

            registry = self.workspace.registry()
            if not registry.read_only:
                suggestions = suggest(request.dest, self.workspace.data_dir, request.name, registry)
        self.post_message(self.Finished(View.of(job.state), suggestions))

    @on(Progress)
    def _on_progress(self, message: Progress) -> None:
        self._show(message.view)

    @on(Finished)
    def _on_finished(self, message: Finished) -> None:
        self.job = None
        self._set_running(False)
        view = message.view
        self._show(view)
        dest = self.workspace.relative(self.request.dest) if self.request else ""
        if view.status == "done":
            fetched = len(view.files) - view.skipped
            self.suggestions = [s for s in message.suggestions if s.entry is not None and not s.registered_as]
            lines = []
            for s in message.suggestions:
                if s.registered_as:
                    lines.append(f"{s.entry['file_name'] if s.entry else s.file.name}: = {s.registered_as}")
                elif s.entry is not None:
                    lines.append(f"{s.name}: {s.entry['file_name']} ({s.columns_text})")
            self._status(lambda: "\n".join([self.t("models.done", n=len(view.files), dest=dest, fetched=fetched,
                                                     skipped=view.skipped), *lines]))
            self.query_one("#dl-register").set_class(bool(self.suggestions), "visible")
            self.post_message(self.StateChanged())
        elif view.status == "cancelled":
            self._status(lambda: self.t("models.cancelled"), "warning")
        else:
            self._status(lambda: view.message, "error")

    def _show(self, view: View) -> None:
        self.view = view
        self.query_one("#dl-bar", ProgressBar).update(progress=round(view.fraction * 100, 1))
        self.query_one("#dl-summary", Static).update(view.summary if view.files else "")
        table = self.query_one("#dl-files", DataTable)
        for row in view.files:
            if self._rows.get(row.path) == row:
                continue
            cells = (download.human_bytes(row.size) if row.size is not None else "?", f"{row.fraction:.0%}",
                     self._state_text(row))
            if row.path not in self._rows:
                table.add_row(row.path, *cells, key=row.path)
            else:
                for key, cell in zip(("size", "progress", "state"), cells, strict=True):
                    table.update_cell(row.path, key, cell)
            self._rows[row.path] = row
        if view.status == "downloading":
            self._status(lambda: "")

    def _state_text(self, row: FileRow) -> str:
        return {"queued": self.t("models.queued"), "skipped": self.t("models.skipped"),
                "done": self.t("models.done_file"), "failed": self.t("models.failed_file"), "active": "↓"}[row.state]

    def _status(self, say: Callable[[], str], kind: str = "") -> None:
        """Show what ``say`` returns (again after a language switch); ``kind`` is error or warning."""
        self._say = say
        status = self.query_one("#dl-status", Static)
        status.update(say())
        status.set_class(kind == "error", "-error")
        status.set_class(kind == "warning", "-warning")

    def relabel(self) -> None:
        self.query_one("#dl-status", Static).update(self._say())
        table = self.query_one("#dl-files", DataTable)
        for key in ("file", "size", "progress", "state"):
            table.columns[key].label = Text(self.t(f"models.{key}"))
        for row in self._rows.values():
            table.update_cell(row.path, "state", self._state_text(row))
        table.refresh()

    @on(Button.Pressed, "#dl-cancel")
    def cancel(self) -> None:
        job = self.job
        if job is not None:
            self.run_worker(job.cancel, thread=True, group="cancel", exit_on_error=False)

    @on(Button.Pressed, "#dl-register")
    def register(self) -> None:
        from medtui.core.data.detect import register

        if not self.suggestions:
            self._status(lambda: self.t("models.nothing_to_register"))
            return
        names, errors = [], []
        for s in self.suggestions:
            try:
                names.append(register(self.workspace, s))
            except MedtuiError as exc:
                errors.append(str(exc))
        self.suggestions = []
        self.query_one("#dl-register").remove_class("visible")
        self.post_message(self.StateChanged())
        self._status(lambda: "\n".join(filter(None, [self.t("models.registered", names=", ".join(names)) if names
                                                     else "", *errors])), "error" if errors else "")


class CheckPane(ModelsPane):
    """Check a model folder: config, weights, tokenizer, template, and (optionally) a load test."""

    class Checked(Message):
        def __init__(self, report: Any, error: str = "") -> None:
            super().__init__()
            self.report = report
            self.error = error

    def __init__(self, workspace: Workspace, lang: str) -> None:
        super().__init__("models.check_tab", workspace, lang, id="tab-check")
        self.checked: CheckPane.Checked | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield self.tr(Label(), "models.path")
            yield Input(placeholder="models/Qwen2-0.5B", id="mc-path", compact=True)
            yield self.tr(Checkbox("", value=True, id="mc-load", compact=True), "models.load")
            yield self.tr(Button("", id="mc-check", compact=True), "models.check_button")
        yield OptionList(id="mc-local")
        yield DataTable(id="mc-result", cursor_type="none", show_header=False)

    def on_mount(self) -> None:
        self.query_one("#mc-result", DataTable).add_columns("", "")
        self.fill_local()

    def fill_local(self) -> None:
        options = self.query_one("#mc-local", OptionList)
        options.clear_options()
        folders = [self.workspace.relative(p) for p in self.workspace.model_dirs()]
        options.add_options(folders or [self.t("models.none_local")])
        options.border_title = self.t("models.local")

    def _row_label(self, label: str) -> str:
        """A model-check row's label in the screen's language (unknown labels stay as they are)."""
        key = f"models.row.{label}"
        return self.t(key) if key in TEXT else label

    @on(OptionList.OptionSelected, "#mc-local")
    def _pick_local(self, event: OptionList.OptionSelected) -> None:
        text = str(event.option.prompt)
        if text != self.t("models.none_local"):
            self.query_one("#mc-path", Input).value = text
            self.check()

    @on(Button.Pressed, "#mc-check")
    @on(Input.Submitted, "#mc-path")
    def check(self) -> None:
        path = self.query_one("#mc-path", Input).value.strip()
        if not path:
            return
        table = self.query_one("#mc-result", DataTable)
        table.clear(columns=True)
        table.add_columns("", "")
        table.add_row("…", self.t("models.checking", path=path))
        self._check_worker(self.workspace.resolve(path), self.query_one("#mc-load", Checkbox).value)

    def worker_failed(self, group: str, error: BaseException) -> None:
        if group == "modelcheck":
            from medtui.tui.errors import one_line

            self._on_checked(self.Checked(None, one_line(error)))

    @work(thread=True, exclusive=True, group="modelcheck", exit_on_error=False)
    def _check_worker(self, path: Path, load: bool) -> None:
        from medtui.core.hub.modelcheck import inspect

        try:
            self.post_message(self.Checked(inspect(path, load=load)))
        except MedtuiError as exc:
            self.post_message(self.Checked(None, str(exc)))

    def relabel(self) -> None:
        self.fill_local()
        if self.checked is not None:
            self._on_checked(self.checked)

    @on(Checked)
    def _on_checked(self, message: Checked) -> None:
        self.checked = message
        table = self.query_one("#mc-result", DataTable)
        table.clear(columns=True)
        table.add_columns("", "")
        if message.report is None:
            table.add_row("✖", message.error)
            return
        report = message.report
        mark = {"ok": "✔ ok", "warn": "▲ warn", "fail": "✖ fail"}[report.status]
        table.add_row(mark, self.workspace.relative(report.path))
        for label, value in report.rows():
            table.add_row(self._row_label(label), value)
        for problem in report.problems:
            table.add_row("✖", problem)
        for warning in report.warnings:
            table.add_row("▲", warning)
