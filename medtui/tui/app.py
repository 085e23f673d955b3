"""The medtui Textual app: eight screens, each a mode with its own stack, one key each.

F1–F8 switch screens (also from the command palette), ctrl+t switches English/中文, ctrl+q quits.
Quitting never stops a run: runs are detached processes that outlive the app. Settings (language,
theme, last workspace) persist through :mod:`medtui.core.settings`. The app opens no network port.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from medtui.core.settings import Settings, load_settings, save_settings
from medtui.core.workspace import Workspace
from medtui.tui import navigation
from medtui.tui.commands import MedtuiCommands
from medtui.tui.i18n import localise_bindings
from medtui.tui.screens.base import MedtuiScreen


class MedtuiApp(App):
    TITLE = "medtui"
    CSS_PATH = "medtui.tcss"
    COMMANDS = App.COMMANDS | {MedtuiCommands}
    BINDINGS = [
        *[Binding(d.key, f"go('{d.name}')", d.name.title(), id=f"nav.{d.name}", priority=True)
          for d in navigation.DESTINATIONS],
        Binding("ctrl+t", "toggle_language", "中文", id="app.language"),
        Binding("f9", "open_predict", "Predict", id="nav.predict", show=False),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(self, workspace: Workspace, lang: str | None = None, *, settings_path: Path | None = None,
                 start: str = "home") -> None:
        super().__init__()
        self.workspace = workspace
        self.settings_path = settings_path
        self.settings: Settings = load_settings(settings_path)
        self.lang = lang or self.settings.lang
        self.start_screen = start
        self.screens_by_name: dict[str, Screen] = {}
        for dest in navigation.DESTINATIONS:
            self.add_mode(dest.name, self._factory(dest.name))
        keys = self._bindings.key_to_bindings  # footer order: screens, then quit, then language
        for key in ("ctrl+q", "ctrl+t"):
            keys[key] = keys.pop(key)
        localise_bindings(self, self.lang)

    def _factory(self, name: str):
        def make() -> Screen:
            screen = navigation.BY_NAME[name].screen_class()(self.workspace, self.lang)
            screen.sub_title = str(self.workspace.root)
            self.screens_by_name[name] = screen
            return screen

        return make

    def on_mount(self) -> None:
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.settings.error:
            self.notify(self.settings.error, severity="warning")
        self.settings.last_workspace = str(self.workspace.root)
        self._save_settings()
        self.switch_mode(self.start_screen)

    # -- navigation ---------------------------------------------------------------------------
    def action_go(self, name: str) -> None:
        self.switch_mode(name)

    async def open_train(self, config: dict[str, Any]) -> None:
        """Show the Train form filled with ``config`` (Home's Enter on a stage)."""
        mounted = self.switch_mode("train")  # creates the screen now if needed; it composes later
        screen = self.screens_by_name["train"]
        if hasattr(screen, "set_config"):
            await screen.set_config(config)  # before its first compose, this only sets its state
        await mounted

    def open_run(self, run_id: str) -> None:
        """Show a run's monitor on top of the Runs screen."""
        from medtui.tui.screens.runs.monitor import MonitorScreen

        self.switch_mode("runs")
        self.push_screen(MonitorScreen(self.workspace, run_id, self.lang))

    def action_open_predict(self) -> None:
        """Evaluate & predict (llamafactory predict with BLEU-4/ROUGE) over the current screen."""
        from medtui.tui.screens.predict import PredictScreen

        self.push_screen(PredictScreen(self.workspace, self.lang))

    async def action_queue_pipeline(self) -> None:
        await self.switch_mode("home")
        home = self.screens_by_name.get("home")
        if home is not None and hasattr(home, "action_queue"):
            home.action_queue()

    # -- language and settings -------------------------------------------------------------------
    def action_toggle_language(self) -> None:
        self.set_language("zh" if self.lang == "en" else "en")

    def set_language(self, lang: str) -> None:
        """Relabel every screen of every stack in place: nothing is rebuilt, no state is lost."""
        self.lang = lang
        localise_bindings(self, lang)
        for stack in self._screen_stacks.values():
            for screen in stack:
                if isinstance(screen, MedtuiScreen):
                    screen.set_lang(lang)
        self.refresh_bindings()
        self.settings.lang = lang
        self._save_settings()

    def _theme_changed(self, theme: Any) -> None:
        self.settings.theme = self.theme
        self._save_settings()

    def _save_settings(self) -> None:
        try:
            save_settings(self.settings, self.settings_path)
        except OSError as exc:
            self.notify(f"settings not saved: {exc}", severity="warning")
