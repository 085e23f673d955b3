"""The Environment screen: the doctor's checks filling in as they finish, with the Keras fixes.

A thread worker iterates :func:`medtui.core.env.doctor.iter_checks` and posts one message per
result; handlers own the table. On opening, torch's checks show their last answers at once while
those are fresh (:mod:`medtui.core.env.probe_cache`); ``r`` checks everything again.
Fixes: ``u`` toggles ``USE_TF=0`` for medtui's runs, ``k`` installs tf-keras after a
confirmation that shows the exact command, with pip's output shown.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, DataTable, RichLog, Static

from medtui.core.env import doctor
from medtui.core.env.doctor import CheckResult
from medtui.core.workspace import Workspace
from medtui.tui.i18n import phrase, register
from medtui.tui.keymap import bind
from medtui.tui.screens.base import MedtuiScreen
from medtui.tui.screens.confirm import ConfirmScreen
from medtui.tui.widgets.footer import MedtuiFooter

TEXT = register({
    "environment.title": ("Environment", "运行环境"),
    "environment.status": ("Status", "状态"),
    "environment.check": ("Check", "检查项"),
    "environment.detail": ("Detail", "详情"),
    "environment.pending": ("…", "…"),
    "environment.checking": ("checking… {done}/{total}", "检查中… {done}/{total}"),
    "environment.summary": ("{ok} ok · {warn} warning(s) · {fail} failed", "{ok} 项正常 · {warn} 项警告 · {fail} 项失败"),
    "environment.use_tf_on": ("USE_TF=0 for medtui's runs: on", "medtui 运行时 USE_TF=0:已开启"),
    "environment.use_tf_off": ("Set USE_TF=0 for medtui's runs", "为 medtui 运行设置 USE_TF=0"),
    "environment.install": ("Install tf-keras", "安装 tf-keras"),
    "environment.confirm": ("Install tf-keras into this Python?", "在当前 Python 中安装 tf-keras?"),
    "environment.yes": ("Install", "安装"),
    "environment.no": ("Cancel", "取消"),
    "environment.fix": ("fix", "修复"),
    "environment.reused": (" · torch checked at {at}", " · torch 检查于 {at}"),
    "environment.installed": ("pip finished (exit {code})", "pip 已结束(退出码 {code})"),
    "environment.rerun": ("Re-run", "重新检查"),
    "environment.select": ("Select a check to see its detail and fix.", "选择一项查看详情和修复方法。"),
    # footer labels, keyed by binding id
    "environment.use_tf": ("USE_TF=0", "USE_TF=0"),
    "environment.tf_keras": ("Install tf-keras", "安装 tf-keras"),
    "environment.back": ("Back", "返回"),
})

MARK = {"ok": "[green]✔ ok[/]", "warn": "[yellow]▲ warn[/]", "fail": "[red]✖ fail[/]"}

ChecksFn = Callable[[Workspace, list[str] | None, bool, threading.Event], Iterable[CheckResult]]


def _default_checks(ws: Workspace, only: list[str] | None, reuse: bool, cancel: threading.Event) -> Iterable[CheckResult]:
    return doctor.iter_checks(ws, only=only, reuse=reuse, cancel=cancel)


class EnvironmentScreen(MedtuiScreen):
    """``EnvironmentScreen(workspace, lang)``; ``checks``/``install_command`` are injectable for tests."""

    NAME = "environment"

    DEFAULT_CSS = """
    EnvironmentScreen { layout: vertical; }
    EnvironmentScreen #env-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    EnvironmentScreen #env-summary { height: 1; padding: 0 1; color: $text-muted; }
    EnvironmentScreen #env-table { height: 1fr; min-height: 6; }
    EnvironmentScreen #env-detail { height: auto; max-height: 6; padding: 0 1; border-top: solid $panel-lighten-2; }
    EnvironmentScreen #env-fixes { height: 1; display: none; padding: 0 1; }
    EnvironmentScreen #env-fixes.visible { display: block; }
    EnvironmentScreen #env-fixes Button { margin-right: 2; min-width: 16; }
    EnvironmentScreen #env-log { height: 8; display: none; border: round $panel-lighten-2; }
    EnvironmentScreen #env-log.visible { display: block; }
    """
    BINDINGS = [
        bind("environment.rerun", "rerun", tooltip="Run every check again"),
        bind("environment.use_tf", "toggle_use_tf",
             tooltip="Toggle USE_TF=0 for medtui's runs (the Keras 3 fix that needs no install)"),
        bind("environment.tf_keras", "install_tf_keras", tooltip="pip install tf-keras into this Python, after confirmation"),
    ]

    class CheckFinished(Message):
        def __init__(self, result: CheckResult, run: threading.Event) -> None:
            super().__init__()
            self.result = result
            self.run = run  # the run's cancel event: a replaced run's messages are dropped

    class ChecksDone(Message):
        def __init__(self, run: threading.Event) -> None:
            super().__init__()
            self.run = run

    class InstallOutput(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    class InstallDone(Message):
        def __init__(self, code: int) -> None:
            super().__init__()
            self.code = code

    def __init__(self, workspace: Workspace, lang: str = "en", *, checks: ChecksFn | None = None,
                 install_command: list[str] | None = None):
        super().__init__(workspace, lang)
        self.checks = checks or _default_checks
        self.install_command = install_command or doctor.tf_keras_command()
        self.results: dict[str, CheckResult] = {}
        self.running = False
        self.installing = False
        self._runs: set[threading.Event] = set()  # the runs under way, each by its cancel event

    def compose(self) -> ComposeResult:
        yield self.navbar()
        yield Static("", id="env-summary")
        yield DataTable(id="env-table", cursor_type="row", zebra_stripes=True)
        yield self.tr(Static(id="env-detail"), "environment.select")
        with Horizontal(id="env-fixes"):
            yield Button(self.t("environment.use_tf_off"), id="env-use-tf", compact=True)
            yield self.tr(Button("", id="env-tf-keras", variant="warning", compact=True), "environment.install")
        yield RichLog(id="env-log", wrap=True, markup=False)
        yield MedtuiFooter()

    def on_mount(self) -> None:
        table = self.query_one("#env-table", DataTable)
        table.add_column(self.t("environment.status"), key="status", width=8)
        table.add_column(self.t("environment.check"), key="check", width=22)
        table.add_column(self.t("environment.detail"), key="detail")
        for check_id in doctor.TITLES:
            table.add_row(self.t("environment.pending"), doctor.title(check_id, self.lang), "", key=check_id)
        table.focus()
        self.run_checks(reuse=True)

    def relabel(self) -> None:
        table = self.query_one("#env-table", DataTable)
        for key in ("status", "check", "detail"):
            table.columns[key].label = Text(self.t(f"environment.{key}"))
        for check_id in doctor.TITLES:
            table.update_cell(check_id, "check", doctor.title(check_id, self.lang))
            if check_id not in self.results:
                table.update_cell(check_id, "status", self.t("environment.pending"))
        self._update_summary()
        self._update_fixes()
        if self.results:
            self._show_selected()

    def worker_failed(self, group: str, error: BaseException) -> None:
        if group == "doctor":
            self._cancel_runs()
            self.running = False
            self._update_summary()
        elif group == "install":
            self.installing = False
            self.refresh_bindings()

    # -- checks ---------------------------------------------------------------------------------
    def run_checks(self, only: list[str] | None = None, *, reuse: bool = False) -> None:
        """Check again (``only`` some); ``reuse`` lets torch's checks show their last answers while fresh."""
        table = self.query_one("#env-table", DataTable)
        for check_id in only or list(doctor.TITLES):
            self.results.pop(check_id, None)
            table.update_cell(check_id, "status", self.t("environment.pending"))
        if only is None:  # a full run replaces the runs under way; a partial one (the Keras fix) joins them
            self._cancel_runs()
        run = threading.Event()
        self._runs.add(run)
        self.running = True
        self._update_summary()
        self._check_worker(only, reuse, run)

    def _cancel_runs(self) -> None:
        for run in self._runs:
            run.set()
        self._runs.clear()

    @work(thread=True, group="doctor", exit_on_error=False)
    def _check_worker(self, only: list[str] | None, reuse: bool, cancel: threading.Event) -> None:
        for result in self.checks(self.workspace, only, reuse, cancel):
            if cancel.is_set():
                return
            self.post_message(self.CheckFinished(result, cancel))
        self.post_message(self.ChecksDone(cancel))

    def on_unmount(self) -> None:
        self._cancel_runs()  # a probe still importing torch is stopped, and quitting does not wait for it

    @on(CheckFinished)
    def _on_check(self, message: CheckFinished) -> None:
        if message.run.is_set():
            return  # from a run that was replaced
        res = message.result
        self.results[res.id] = res
        table = self.query_one("#env-table", DataTable)
        if res.id not in table.rows:
            return
        table.update_cell(res.id, "status", MARK.get(res.status, res.status))
        table.update_cell(res.id, "detail", self._clip(res.detail), update_width=True)
        self._update_summary()
        if res.id == "keras":
            self._update_fixes()
        self._show_selected()

    def _clip(self, text: str) -> str:
        """Details are cut to the screen in the table; the panel below shows them whole."""
        room = max(12, self.size.width - 42)
        return text if len(text) <= room else text[: room - 1] + "…"

    def on_resize(self) -> None:
        table = self.query_one("#env-table", DataTable)
        for check_id, res in self.results.items():
            table.update_cell(check_id, "detail", self._clip(res.detail), update_width=True)

    @on(ChecksDone)
    def _on_done(self, message: ChecksDone) -> None:
        if message.run not in self._runs:
            return
        self._runs.discard(message.run)
        self.running = bool(self._runs)
        self._update_summary()

    def _update_summary(self) -> None:
        done = len(self.results)
        if self.running and done < len(doctor.TITLES):
            text = self.t("environment.checking", done=done, total=len(doctor.TITLES))
        else:
            counts = {s: sum(r.status == s for r in self.results.values()) for s in doctor.STATUSES}
            text = self.t("environment.summary", **counts)
            reused = [r.checked_at for r in self.results.values() if r.checked_at is not None]
            if reused:
                text += self.t("environment.reused", at=time.strftime("%H:%M", time.localtime(min(reused))))
        self.query_one("#env-summary", Static).update(text)

    @on(DataTable.RowHighlighted, "#env-table")
    def _show_selected(self) -> None:
        table = self.query_one("#env-table", DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        res = self.results.get(key)
        detail = self.query_one("#env-detail", Static)
        if res is None:
            self.show(detail, f"{doctor.title(key, self.lang)}: {self.t('environment.pending')}")
            return
        text = f"[b]{doctor.title(res.id, self.lang)}[/b] {MARK[res.status]}\n{_escape(res.detail)}"
        if res.fix and res.status != "ok":
            text += f"\n[b]{self.t('environment.fix')}:[/b] {_escape(res.fix)}"
        self.show(detail, text)

    # -- fixes ----------------------------------------------------------------------------------
    def _update_fixes(self) -> None:
        keras = self.results.get("keras")
        fixes = self.query_one("#env-fixes")
        fixes.set_class(bool(keras and keras.actions), "visible")
        self.query_one("#env-use-tf", Button).label = (
            self.t("environment.use_tf_on") if doctor.use_tf_disabled() else self.t("environment.use_tf_off"))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The Keras fixes appear in the footer only when the clash is there."""
        if action in ("toggle_use_tf", "install_tf_keras"):
            keras = self.results.get("keras")
            return bool(keras and keras.actions) or self.installing
        return True

    def action_rerun(self) -> None:
        if not self.running:
            self.run_checks()

    @on(Button.Pressed, "#env-use-tf")
    def action_toggle_use_tf(self) -> None:
        doctor.set_use_tf(not doctor.use_tf_disabled())
        self._update_fixes()
        self.run_checks(["keras"])

    @on(Button.Pressed, "#env-tf-keras")
    def action_install_tf_keras(self) -> None:
        if self.installing:
            return
        command = " ".join(self.install_command)
        self.app.push_screen(ConfirmScreen(phrase("environment.confirm"), command, yes=phrase("environment.yes"),
                                           no=phrase("environment.no")), self._confirmed)

    def _confirmed(self, yes: bool | None) -> None:
        if not yes:
            return
        log = self.query_one("#env-log", RichLog)
        log.add_class("visible")
        log.write(f"$ {' '.join(self.install_command)}")
        self.installing = True
        self._install_worker()

    @work(thread=True, exclusive=True, group="install", exit_on_error=False)
    def _install_worker(self) -> None:
        code = doctor.run_command(self.install_command, lambda line: self.post_message(self.InstallOutput(line)))
        self.post_message(self.InstallDone(code))

    @on(InstallOutput)
    def _on_install_output(self, message: InstallOutput) -> None:
        self.query_one("#env-log", RichLog).write(message.line)

    @on(InstallDone)
    def _on_install_done(self, message: InstallDone) -> None:
        self.installing = False
        self.query_one("#env-log", RichLog).write(self.t("environment.installed", code=message.code))
        self.run_checks(["keras"])


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
