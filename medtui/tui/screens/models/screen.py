"""The Models screen: download models and datasets with live progress, and check model folders.

The two tabs are :class:`~medtui.tui.screens.models.panes.DownloadPane` and
:class:`~medtui.tui.screens.models.panes.CheckPane`; the screen holds them and their keys.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.widgets import TabbedContent

from medtui.core.workspace import Workspace
from medtui.tui.keymap import bind
from medtui.tui.screens.base import MedtuiScreen
from medtui.tui.screens.models.panes import CheckPane, DownloadPane, JobFactory
from medtui.tui.widgets.footer import MedtuiFooter


class ModelsScreen(MedtuiScreen):
    """``ModelsScreen(workspace, lang)``; ``start_download`` is injectable (tests: env, stub feeds)."""

    NAME = "models"

    DEFAULT_CSS = """
    ModelsScreen { layout: vertical; }
    ModelsScreen #models-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    ModelsScreen #models-tabs { height: 1fr; }
    ModelsScreen TabPane { padding: 0 1; height: 1fr; }
    ModelsScreen .row { height: 1; margin-bottom: 1; }
    ModelsScreen .row Label { width: 10; }
    ModelsScreen .row Input { width: 1fr; margin-right: 1; }
    ModelsScreen .row #dl-revision { width: 20; }
    ModelsScreen RadioSet { layout: horizontal; border: none; height: 1; margin-right: 4; padding: 0; width: auto; }
    ModelsScreen RadioSet:focus { border: none; }
    ModelsScreen RadioSet > RadioButton { width: auto; margin-right: 2; }
    ModelsScreen #dl-actions Button { margin-right: 1; }
    ModelsScreen #dl-dest { color: $text-muted; width: 1fr; }
    ModelsScreen #dl-progress-row { height: 1; }
    ModelsScreen #dl-bar { width: 22; margin-right: 1; }
    ModelsScreen #dl-summary { width: 1fr; }
    ModelsScreen #dl-files { height: 1fr; min-height: 3; }
    ModelsScreen #dl-status { height: auto; max-height: 3; }
    ModelsScreen #dl-status.-error { color: $error; }
    ModelsScreen #dl-status.-warning { color: $warning; }
    ModelsScreen #dl-register { display: none; }
    ModelsScreen #dl-register.visible { display: block; }
    ModelsScreen #mc-local { height: 5; border: round $panel-lighten-2; }
    ModelsScreen #mc-result { height: 1fr; }
    """
    BINDINGS = [
        bind("models.download", "start", tooltip="Start (or resume) the download"),
        bind("models.cancel", "cancel", tooltip="Stop the download; it resumes later"),
        bind("models.register", "register", tooltip="Register the downloaded dataset's files in dataset_info.json"),
        bind("models.check", "check_model", tooltip="Check the model folder"),
    ]

    def __init__(self, workspace: Workspace, lang: str = "en", *, start_download: JobFactory | None = None):
        super().__init__(workspace, lang)
        self.start_download = start_download

    def compose(self) -> ComposeResult:
        yield self.navbar()
        with TabbedContent(id="models-tabs"):
            yield DownloadPane(self.workspace, self.lang, start_download=self.start_download)
            yield CheckPane(self.workspace, self.lang)
        yield MedtuiFooter()

    def on_mount(self) -> None:
        self.query_one("#dl-id").focus()

    @property
    def download(self) -> DownloadPane:
        return self.query_one(DownloadPane)

    @property
    def checker(self) -> CheckPane:
        return self.query_one(CheckPane)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Footer shows only what applies now: cancel while running, register after a dataset."""
        if not self.is_mounted:
            return True
        running = self.download.job is not None
        if action == "cancel":
            return True if running else None
        if action == "start":
            return None if running else True
        if action == "register":
            return bool(self.download.suggestions)
        return True

    @on(DownloadPane.StateChanged)
    def _download_state(self) -> None:
        self.refresh_bindings()

    @on(DownloadPane.Finished)
    def _download_finished(self) -> None:
        self.checker.fill_local()

    def action_start(self) -> None:
        self.download.start()

    def action_cancel(self) -> None:
        self.download.cancel()

    def action_register(self) -> None:
        self.download.register()

    def action_check_model(self) -> None:
        self.checker.check()
