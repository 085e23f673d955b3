"""The medtui Textual app (minimal shell; the full TUI grows on top of it)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from medtui.core.runs import list_runs
from medtui.core.workspace import Workspace


class MedtuiApp(App):
    TITLE = "medtui"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", id="quit")]

    def __init__(self, workspace: Workspace, lang: str | None = None):
        super().__init__()
        self.workspace = workspace
        self.lang = lang or "en"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"Workspace: {self.workspace.root}", id="ws")
        yield DataTable(id="datasets")
        yield DataTable(id="runs")
        yield Footer()

    def on_mount(self) -> None:
        datasets = self.query_one("#datasets", DataTable)
        datasets.add_columns("Dataset", "File")
        reg = self.workspace.registry()
        for name, entry in reg.items():
            datasets.add_row(name, str(entry.get("file_name", "")))
        runs = self.query_one("#runs", DataTable)
        runs.add_columns("Run", "Stage", "Status")
        for run in list_runs(self.workspace.runs_dir):
            runs.add_row(run.id, run.stage, run.status)
