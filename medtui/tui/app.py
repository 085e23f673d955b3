"""The medtui Textual app: eight top-level screens (modes), screens pushed over them, one keymap.

Navigation has one model. F1–F8 switch the top-level screens, each a mode with its own stack
(its state stays while you are elsewhere). Screens pushed over a mode (a run's Monitor, Predict
on F9, dialogs) close with Escape; a run's Monitor replaces the one already open, so monitors
never pile up. The keys come from :mod:`medtui.tui.keymap` by binding id (a user's ``keymap``
setting overrides them); ``?`` lists the keys of the current screen, ctrl+p offers every screen
and action, ctrl+t switches English/中文 in place, ctrl+q quits. Quitting never stops a run: runs
are detached processes that outlive the app. A thread worker that fails ends in a notification, a
line in ``.medtui/ui.log`` and a usable screen (:mod:`medtui.tui.errors`). The app opens no
network port.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from textual import on, work
from textual.app import App
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from medtui.core.settings import Settings, load_settings, save_settings
from medtui.core.workspace import Workspace
from medtui.tui import errors, keymap, navigation
from medtui.tui.commands import MedtuiCommands
from medtui.tui.i18n import localise_bindings, phrase, t
from medtui.tui.keymap import bind
from medtui.tui.listener import RunNotice, deliver, listen
from medtui.tui.screens.base import MedtuiScreen

#: Threads for workers: long jobs (a download, a chat reply, a queued pipeline) each hold one.
WORKER_THREADS = 32


class MedtuiApp(App):
    TITLE = "medtui"
    CSS_PATH = "medtui.tcss"
    COMMANDS = App.COMMANDS | {MedtuiCommands}
    BINDINGS = [
        *[bind(f"nav.{d.name}", f"go('{d.name}')", show=False, priority=True) for d in navigation.DESTINATIONS],
        bind("nav.predict", "open_predict", show=False, priority=True),
        bind("app.help", "help", priority=True),
        bind("app.language", "toggle_language", priority=True),
        bind("app.quit", "quit", priority=True),
    ]

    def __init__(self, workspace: Workspace, lang: str | None = None, *, settings_path: Path | None = None,
                 start: str = "home", screens: dict[str, Callable[[Workspace, str], Screen]] | None = None) -> None:
        """``screens`` replaces the factory of top-level screens by name (tests inject clocks and fakes)."""
        if start not in navigation.BY_NAME:
            raise ValueError(f"unknown start screen {start!r}; the screens are {', '.join(navigation.BY_NAME)}")
        self.DEFAULT_MODE = start  # the app composes straight into ``start`` (no blank screen, one CSS pass)
        super().__init__()
        self.screen_factories = dict(screens or {})
        self.workspace = workspace
        self.settings_path = settings_path
        self.settings: Settings = load_settings(settings_path)
        self.lang = lang or self.settings.lang
        self.screens_by_name: dict[str, Screen] = {}
        for dest in navigation.DESTINATIONS:
            self.add_mode(dest.name, self._factory(dest.name))
        self.keymap_problems: list[str] = []
        overrides, self.keymap_problems = keymap.overrides(self.settings.extra.get("keymap"))
        if overrides:
            self.set_keymap(overrides)
        keys = self._bindings.key_to_bindings  # the footer lists the app's keys last, in this order
        for key in ("question_mark", "f10", "ctrl+t", "ctrl+q"):
            keys[key] = keys.pop(key)
        localise_bindings(self, self.lang)

    def _factory(self, name: str):
        def make() -> Screen:
            factory = self.screen_factories.get(name) or navigation.BY_NAME[name].screen_class()
            screen = factory(self.workspace, self.lang)
            screen.sub_title = str(self.workspace.root)
            self.screens_by_name[name] = screen
            return screen

        return make

    def on_mount(self) -> None:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="medtui-worker"))
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.closing = threading.Event()  # set when the app closes: background threads stop
        self.call_after_refresh(self._after_first_frame)

    def _after_first_frame(self) -> None:
        """What need not delay the first frame: settings problems, saving the settings, run notices,
        the doctor's torch answers, and the garbage collector (``medtui`` pauses it while the app starts: cli/tui_cmd.py)."""
        gc.enable()
        for problem in ([self.settings.error] if self.settings.error else []) + self.keymap_problems:
            self.notify(problem, severity="warning", timeout=10)
        self.settings.last_workspace = str(self.workspace.root)
        self._save_settings()
        threading.Thread(target=listen, args=(self, self.closing), name="medtui-notifications", daemon=True).start()
        threading.Thread(target=self._warm_up_doctor, name="medtui-doctor-warm-up", daemon=True).start()

    def _warm_up_doctor(self) -> None:
        """Ask torch in the background (once a day at most) so Environment opens with every answer."""
        from medtui.core.env import doctor

        try:
            doctor.warm_up(self.workspace, cancel=self.closing)
        except Exception as error:  # the one error path, as for any worker
            try:
                self.call_from_thread(errors.report, self, self, "doctor-warm-up", error)
            except RuntimeError:  # the app has closed
                pass

    def on_unmount(self) -> None:
        self.closing.set()  # the notification and warm-up threads stop within half a second

    @on(RunNotice)
    def _run_notice(self, message: RunNotice) -> None:
        """A run ended or raised an urgent alert (sent by its supervisor, :mod:`medtui.core.notify`)."""
        deliver(self, message.payload)

    # -- navigation ---------------------------------------------------------------------------
    async def action_go(self, name: str) -> None:
        """Show top-level screen ``name``. F6 always shows the Runs list itself: a monitor left open
        there is closed (Enter on the list reopens it), so monitors never pile up under Runs."""
        await self.switch_mode(name)
        if name == "runs":
            while len(self.screen_stack) > 1:
                await self.pop_screen()

    async def open_train(self, config: dict[str, Any]) -> None:
        """Show the Train form filled with ``config`` (Home's Enter on a stage, the palette's new run)."""
        mounted = self.switch_mode("train")  # creates the screen now if needed; it composes later
        screen = self.screens_by_name["train"]
        if hasattr(screen, "set_config"):
            await screen.set_config(config)  # before its first compose, this only sets its state
        await mounted

    async def open_run(self, run_id: str) -> None:
        """Show a run's monitor over the Runs list, in place of any monitor (or dialog) open there."""
        from medtui.tui.screens.runs.monitor import MonitorScreen, auto_light

        await self.switch_mode("runs")
        top = self.screen
        if isinstance(top, MonitorScreen) and top.run_id == run_id and not top.comparing:
            return
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        await self.push_screen(MonitorScreen(self.workspace, run_id, self.lang, light=auto_light(self.workspace, run_id)))

    async def action_show_run(self, run_id: str) -> None:
        await self.open_run(run_id)

    def action_new_run(self, stage: str) -> None:
        """The Train form of ``stage``, filled from the earlier stages' outputs (as Home's Enter does)."""
        self._prefill(stage)

    @work(thread=True, exclusive=True, group="prefill", exit_on_error=False)
    def _prefill(self, stage: str) -> None:
        from medtui.core.lifecycle.prefill import prefill

        self.call_from_thread(self.open_train, prefill(self.workspace, stage))

    async def action_show_dataset(self, name: str) -> None:
        await self.switch_mode("datasets")
        self.screens_by_name["datasets"].show_dataset(name)

    def action_stop_run(self, run_id: str) -> None:
        """Stop a running run after a confirmation (the trainer saves and stops after its step)."""
        from medtui.tui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._stop_run(run_id)

        self.push_screen(ConfirmScreen(phrase("palette.stop.confirm", run=run_id), danger=True, lang=self.lang),
                         answered)

    @work(thread=True, group="stop", exit_on_error=False)
    def _stop_run(self, run_id: str) -> None:
        from medtui.core.lifecycle.chain import stop_any
        from medtui.core.runs.records import load_run

        fresh = stop_any(load_run(self.workspace.runs_dir / run_id))  # pipelines and Slurm jobs too
        self.call_from_thread(self.notify, t("palette.stopped", self.lang, run=run_id,
                                             status=t(f"status.{fresh.status}", self.lang)))

    def action_open_predict(self) -> None:
        """Evaluate & predict (llamafactory predict with BLEU-4/ROUGE) over the current screen; Esc closes it."""
        from medtui.tui.screens.predict import PredictScreen

        if not isinstance(self.screen, PredictScreen):
            self.push_screen(PredictScreen(self.workspace, self.lang))

    def action_help(self) -> None:
        """List the keys active on the current screen (a text field still takes a typed ?)."""
        from medtui.tui.screens.keys import KeysScreen, active_keys

        if isinstance(self.screen, KeysScreen):
            self.pop_screen()  # ? again closes it
        else:
            own, shell = active_keys(self.screen, self)
            self.push_screen(KeysScreen(own, shell, self.lang))

    async def action_queue_pipeline(self) -> None:
        await self.switch_mode("home")
        home = self.screens_by_name.get("home")
        if home is not None and hasattr(home, "action_queue"):
            home.action_queue()

    # -- the one error path (screens and panes report their own workers: see screens/base.py) --------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            errors.report(self, worker.node, worker.group, worker.error)

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
