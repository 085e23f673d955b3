"""Home: the tutorial's lifecycle (PT → SFT, then RM → PPO, DPO or KTO, then Export).

Each node shows its stage's latest run: status, output folder, final loss and age (an export also
the branch it merged). Enter opens the stage's Train form prefilled through lifecycle wiring (for
Export, it first asks which branch to merge when PPO, DPO and KTO runs compete); ``p`` queues the
stages that have not succeeded yet as a detached pipeline run (``medtui pipeline --only ...``), so
quitting medtui never cancels a stage, and the status line follows it. Summaries are read in a
worker every two seconds.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from medtui.core.errors import MedtuiError
from medtui.core.runs.progress import format_age
from medtui.core.runs.states import ACTIVE
from medtui.core.stages.spec import stage_title
from medtui.core.workspace import Workspace
from medtui.tui.i18n import localise_bindings, phrase, register, t
from medtui.tui.keymap import bind
from medtui.tui.messages import ExportChoices, OverviewReady, PrefillReady, QueueEvent, QueuePlanned
from medtui.tui.screens.base import MedtuiScreen
from medtui.tui.screens.confirm import ConfirmScreen
from medtui.tui.widgets.alerts import short_alerts, short_diagnosis, tr
from medtui.tui.widgets.footer import MedtuiFooter

if TYPE_CHECKING:
    from medtui.core.lifecycle.overview import Overview, StageSummary

TEXT = register({
    "home.open": ("Open form", "打开表单"),
    "home.pipeline": ("Queue rest", "运行剩余"),
    "home.refresh": ("Refresh", "刷新"),
    "home.next": ("Next stage", "下一阶段"),
    "home.previous": ("Previous stage", "上一阶段"),
    "home.never": ("not run yet", "尚未运行"),
    "home.reading": ("reading runs…", "正在读取运行…"),
    "home.loss": ("loss {loss}", "损失 {loss}"),
    "home.noloss": ("loss –", "损失 –"),
    "home.ago": ("{age} ago", "{age} 前"),
    "home.hint": ("Enter: open a stage's form · p: queue the rest · ?: keys · ctrl+p: commands",
                  "回车:打开阶段表单 · p:运行剩余阶段 · ?:按键 · ctrl+p:命令"),
    "home.workspace": ("Workspace {path}", "工作区 {path}"),
    "home.nopipeline": ("No pipeline for this workspace: add {file} (same format as `medtui pipeline FILE`).",
                        "此工作区没有流程文件:请添加 {file}(格式同 `medtui pipeline FILE`)。"),
    "home.alldone": ("Every stage of pipeline {name} has succeeded; nothing to queue.",
                     "流程 {name} 的所有阶段均已成功,无需排队。"),
    "home.busy": ("Run {run} is still going; queue the rest when it has finished.",
                  "运行 {run} 仍在进行,请在其结束后再排队剩余阶段。"),
    "home.confirm": ("Queue {n} stage(s) of pipeline {name}: {stages}?", "排队运行流程 {name} 的 {n} 个阶段:{stages}?"),
    "home.export.which": ("Export: merge which branch?", "导出:合并哪个分支?"),
    "home.export.branch": ("merged {branch}", "合并了 {branch}"),
    "home.queue.started": ("Pipeline {name} started as run {run}; it goes on if you quit medtui",
                           "流程 {name} 已作为运行 {run} 启动;退出 medtui 也会继续"),
    "home.queue.stopped": ("Pipeline {name} stopped: {reason}", "流程 {name} 已停止:{reason}"),
    "home.confirm.note": ("The chain runs in a process of its own: quitting medtui or losing SSH stops no "
                          "stage. Stop it with `medtui stop RUN`.",
                          "整条流程在独立进程中运行:退出 medtui 或断开 SSH 不会中断任何阶段。用 `medtui stop RUN` 停止。"),
    "home.queue.start": ("Pipeline {name}: stage {stage} starting", "流程 {name}:阶段 {stage} 开始"),
    "home.queue.end": ("Pipeline {name}: stage {stage} {status}", "流程 {name}:阶段 {stage} {status}"),
    "home.queue.done": ("Pipeline {name} finished: {n} stage(s) succeeded", "流程 {name} 完成:{n} 个阶段成功"),
    "home.queue.failed": ("Pipeline {name} stopped at {stage}: {reason}", "流程 {name} 停在 {stage}:{reason}"),
    "home.queue.running": ("▶ pipeline {name}: {stage} running, {done}/{n} done ({run}; goes on after you quit)",
                           "▶ 流程 {name}:{stage} 运行中,已完成 {done}/{n}({run};退出后继续)"),
    "home.queue.between": ("▶ pipeline {name}: starting the next stage, {done}/{n} done ({run})",
                           "▶ 流程 {name}:正在启动下一阶段,已完成 {done}/{n}({run})"),
})

#: Node order on screen (rows: PT SFT / RM PPO DPO KTO / Export).
NODES = ("pt", "sft", "rm", "ppo", "dpo", "kto", "export")
FEEDS = {"pt": "SFT", "sft": "RM · DPO · KTO", "rm": "PPO", "ppo": "Export", "dpo": "Export", "kto": "Export"}
STATUS_ICON = {"pending": "…", "running": "▶", "succeeded": "✓", "failed": "✗", "stopped": "■", "killed": "☒"}
STATUS_STYLE = {"pending": "$accent", "running": "$warning", "succeeded": "$success", "failed": "$error",
                "stopped": "$secondary", "killed": "$error"}
DIAGRAM = (
    ("pt", " ──► "), ("sft", " ──┬──► "), ("rm", " ──► "), ("ppo", " ──┬──► "), ("export", "\n"),
    (None, "             ├──► "), ("dpo", " ─────────┤\n"),
    (None, "             └──► "), ("kto", " ─────────┘"),
)


class StageNode(Static, can_focus=True):
    """One lifecycle stage; Enter (or a click) asks Home to open its form."""

    BINDINGS = [bind("home.open", "choose")]

    class Chosen(Message):
        def __init__(self, stage: str) -> None:
            super().__init__()
            self.stage = stage

    def __init__(self, stage: str, lang: str) -> None:
        super().__init__(id=f"node-{stage}", classes="stage-node")
        self.stage = stage
        self.lang = lang
        self.summary: StageSummary | None = None  # None until Home has read the runs once

    def on_mount(self) -> None:
        localise_bindings(self, self.lang)
        self.show(self.summary, self.lang)

    def show(self, summary: StageSummary | None, lang: str) -> None:
        key = (None, lang) if summary is None else (
            summary.run_id, summary.status, summary.output_dir, summary.loss, format_age(summary.age),
            summary.reason, summary.cause, summary.cause_reason, summary.alerts, summary.branch, lang)
        if key == getattr(self, "_shown", None):
            return  # nothing visible changed: no repaint
        self._shown = key
        self.summary, self.lang = summary, lang
        title = stage_title(self.stage, lang)
        code = self.stage.upper() if self.stage != "export" else ""
        self.border_title = title if not code or title.startswith(code) else f"{code} {title}"
        feeds = FEEDS.get(self.stage)
        self.border_subtitle = f"→ {feeds}" if feeds else ""
        for status in STATUS_ICON:
            self.set_class(summary is not None and summary.status == status, f"-{status}")
        self.update(self.render_summary(summary, lang))

    @staticmethod
    def render_summary(s: StageSummary | None, lang: str) -> Content:
        if s is None:
            return Content.styled(t("home.reading", lang), "dim")
        if s.run_id is None:
            return Content.styled(t("home.never", lang), "dim")
        status = t(f"status.{s.status}", lang)
        head = Content.styled(f"{STATUS_ICON.get(s.status or '', '?')} {status}", STATUS_STYLE.get(s.status, ""))
        if s.branch:  # an export says which branch it merged, on its first line (the card is short)
            head = Content.assemble(head, f" · {t('home.export.branch', lang, branch=s.branch.upper())}")
        lines = [head,
                 Content(t("home.ago", lang, age=format_age(s.age))), Content(s.output_dir or "")]
        if s.status == "failed" and s.cause:
            lines.append(Content.styled(short_diagnosis({"cause": s.cause, "reason": s.cause_reason}, lang), "$error"))
        elif s.status == "failed" and s.reason:
            lines.append(Content.styled(s.reason, "$error"))
        elif s.stage != "export":
            loss = t("home.loss", lang, loss=f"{s.loss:.4f}") if s.loss is not None else t("home.noloss", lang)
            warn = tr(f"cause.{s.cause}", lang) if s.cause else short_alerts(s.alerts[:1], lang)
            if not s.cause and len(s.alerts) > 1:
                warn += f" +{len(s.alerts) - 1}"
            lines.append(Content.assemble(loss, (f" ⚠ {warn}", "$warning")) if warn else Content(loss))
        return Content("\n").join(lines)

    def action_choose(self) -> None:
        self.post_message(self.Chosen(self.stage))

    def on_click(self) -> None:
        self.focus()
        self.post_message(self.Chosen(self.stage))


class HomeScreen(MedtuiScreen):
    NAME = "home"
    BINDINGS = [
        bind("home.pipeline", "queue"),
        bind("home.refresh", "refresh"),
        bind("home.next", "app.focus_next", show=False),
        bind("home.previous", "app.focus_previous", show=False),
    ]
    POLL_SECONDS = 2.0

    def __init__(self, workspace: Workspace, lang: str = "en", *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(workspace, lang)
        self.clock = clock
        self.overview: Overview | None = None  # made by the first poll, in its thread (start-up stays light)
        self._poll_lock = threading.Lock()  # "exclusive" thread workers still overlap: polls take turns
        self.summaries: dict[str, StageSummary] = {}
        self.queue_status = ""
        self.pipeline = None  # the newest pipeline run as last polled (PipelineView)
        self._pipeline_polled = False
        self._polling = False  # set once the first frame is up (see on_mount)

    def compose(self) -> ComposeResult:
        yield self.navbar()
        yield Static(id="diagram")
        with Grid(id="lifecycle"):
            for stage in NODES:
                yield StageNode(stage, self.lang)
        yield Static(id="home-status")
        yield MedtuiFooter()

    def on_mount(self) -> None:
        self.relabel()
        self.set_interval(self.POLL_SECONDS, self.refresh_overview)
        self.call_after_refresh(self._first_poll)  # the first frame does not wait for the runs
        self.query_one("#node-pt").focus()

    def relabel(self) -> None:
        self._draw_diagram()
        for node in self.query(StageNode):
            node.show(self.summaries.get(node.stage), self.lang)
        self._draw_status()

    def _draw_diagram(self) -> None:
        key = tuple(self._status(stage) for stage in NODES)
        if key == getattr(self, "_diagram_key", None):
            return
        self._diagram_key = key
        parts: list[Content | str | tuple[str, str]] = []
        for stage, tail in DIAGRAM:
            if stage is not None:
                status = self._status(stage)
                parts.append((stage.upper() if stage != "export" else "Export",
                              "bold " + STATUS_STYLE.get(status or "", "$text-muted")))
            parts.append(tail)
        self.query_one("#diagram", Static).update(Content.assemble(*parts))

    def _status(self, stage: str) -> str | None:
        summary = self.summaries.get(stage)
        return summary.status if summary else None

    def _draw_status(self) -> None:
        text = (self.queue_status or self.t("home.hint")) + "\n" + self.t("home.workspace",
                                                                         path=str(self.workspace.root))
        self.query_one("#home-status", Static).update(Content(text))

    # -- overview ---------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.refresh_overview()

    def _first_poll(self) -> None:
        self._polling = True
        self.refresh_overview()

    def on_screen_resume(self) -> None:
        if self._polling:
            self.refresh_overview()  # back on Home: show what happened meanwhile at once

    def refresh_overview(self) -> None:
        if self.is_current or not self.summaries:
            self._poll_overview()

    @work(thread=True, exclusive=True, group="overview", exit_on_error=False)
    def _poll_overview(self) -> None:
        with self._poll_lock:
            if self.overview is None:
                from medtui.core.lifecycle.overview import Overview

                self.overview = Overview(self.workspace, self.clock)
            summaries = self.overview.poll()
            self.post_message(OverviewReady(summaries, self.overview.pipeline))

    @on(OverviewReady)
    def _overview_ready(self, message: OverviewReady) -> None:
        self.summaries = message.summaries
        for node in self.query(StageNode):
            node.show(self.summaries[node.stage], self.lang)
        self._draw_diagram()
        self._follow_pipeline(message.pipeline)

    def _follow_pipeline(self, view) -> None:
        """The status line follows the newest pipeline run; its stage ends and its end are notified
        (only what changes while Home watches, never an old run's history)."""
        before, self.pipeline = self.pipeline, view
        first, self._pipeline_polled = not self._pipeline_polled, True
        if view is None:
            self.queue_status = ""
            self._draw_status()
            return
        if view.status == "running":
            short = "-".join(view.run_id.split("-")[-2:])
            values = {"name": view.name, "run": short, "done": view.done, "n": len(view.stages)}
            self.queue_status = (self.t("home.queue.running", stage=view.current, **values) if view.current
                                 else self.t("home.queue.between", **values))
        else:
            self.queue_status = ""
        if not first and before is not None and before.run_id == view.run_id:
            old = dict(before.stages)
            for name, status in view.stages:
                if status != old.get(name) and status not in ACTIVE:
                    self.notify(self.t("home.queue.end", name=view.name, stage=name,
                                       status=self.t(f"status.{status}") if status != "skipped" else status),
                                severity="information" if status in ("succeeded", "skipped") else "warning")
            if before.status == "running" and view.status != "running":
                self._notify_end(view)
        self._draw_status()

    def _notify_end(self, view) -> None:
        if view.status == "succeeded":
            self.notify(self.t("home.queue.done", name=view.name, n=view.done))
        elif view.status == "stopped":
            self.notify(self.t("home.queue.stopped", name=view.name, reason=view.reason), timeout=15)
        else:
            bad = next((name for name, status in view.stages if status in ("failed", "killed")), "?")
            self.notify(self.t("home.queue.failed", name=view.name, stage=bad, reason=view.reason or view.status),
                        severity="error", timeout=15)

    # -- open a stage's form ------------------------------------------------------------------
    @on(StageNode.Chosen)
    def _chosen(self, message: StageNode.Chosen) -> None:
        if message.stage == "export":
            self._export_choices()
        else:
            self._prefill(message.stage)

    @work(thread=True, exclusive=True, group="export-choices", exit_on_error=False)
    def _export_choices(self) -> None:
        from medtui.core.lifecycle.wiring import export_choices, workspace_outputs

        produced = workspace_outputs(self.workspace.runs_dir)
        choices = export_choices(produced)
        root = self.workspace.root.resolve()

        def shown(folder: str) -> str:  # relative to the workspace when inside it, as the cards show it
            path = Path(folder)
            return str(path.relative_to(root)) if path.is_absolute() and path.is_relative_to(root) else folder

        self.post_message(ExportChoices(choices, {stage: shown(produced[stage].output_dir) for stage in choices}))

    @on(ExportChoices)
    def _ask_branch(self, message: ExportChoices) -> None:
        """More than one alignment branch succeeded: ask which to merge, never pick one silently."""
        if len(message.choices) <= 1:
            self._prefill("export", message.choices[0] if message.choices else None)
            return
        from medtui.tui.widgets.dialogs import ChoiceScreen

        options = [(f"{stage_title(stage, self.lang)} · {message.outputs.get(stage) or stage}", stage)
                   for stage in message.choices]

        def chosen(branch: str | None) -> None:
            if branch:
                self._prefill("export", branch)

        self.app.push_screen(ChoiceScreen(phrase("home.export.which"), options, self.lang), chosen)

    @work(thread=True, exclusive=True, group="prefill", exit_on_error=False)
    def _prefill(self, stage: str, export_from: str | None = None) -> None:
        from medtui.core.lifecycle.prefill import prefill

        self.post_message(PrefillReady(stage, prefill(self.workspace, stage, export_from=export_from)))

    @on(PrefillReady)
    async def _prefill_ready(self, message: PrefillReady) -> None:
        open_train = getattr(self.app, "open_train", None)
        if open_train is not None:
            await open_train(message.config)

    # -- queue the remaining stages -------------------------------------------------------------
    def action_queue(self) -> None:
        self._plan_queue()

    @work(thread=True, exclusive=True, group="queue-plan", exit_on_error=False)
    def _plan_queue(self) -> None:
        from medtui.core.lifecycle.queue import pending_runs, remaining_stages, workspace_pipeline
        from medtui.core.runs.records import list_runs

        try:
            pipeline = workspace_pipeline(self.workspace)
        except MedtuiError as exc:
            self.post_message(QueuePlanned(error=str(exc)))
            return
        if pipeline is None:
            self.post_message(QueuePlanned())
            return
        busy = pending_runs(self.workspace)
        names = remaining_stages(pipeline, list_runs(self.workspace.runs_dir))
        self.post_message(QueuePlanned(pipeline, names, busy[0].id if busy else None))

    @on(QueuePlanned)
    def _queue_planned(self, message: QueuePlanned) -> None:
        if message.error:
            self.notify(message.error, severity="error")
            return
        if message.pipeline is None:
            from medtui.core.lifecycle.queue import PIPELINE_FILE

            self.notify(self.t("home.nopipeline", file=str(self.workspace.root / PIPELINE_FILE)), severity="warning")
            return
        if message.busy:
            self.notify(self.t("home.busy", run=message.busy), severity="warning")
            return
        if not message.names:
            self.notify(self.t("home.alldone", name=message.pipeline.name))
            return
        question = phrase("home.confirm", n=len(message.names), name=message.pipeline.name,
                          stages=" → ".join(message.names))

        def answered(yes: bool | None) -> None:
            if yes:
                self._run_queue(message.pipeline.name, message.names)

        confirm = ConfirmScreen(question, phrase("home.confirm.note"))
        self.app.push_screen(confirm, answered)

    @work(thread=True, exclusive=True, group="queue", exit_on_error=False)
    def _run_queue(self, name: str, names: list[str]) -> None:
        """Start the remaining stages as a detached pipeline run; Home then follows it by polling."""
        from medtui.core.lifecycle.queue import start_remaining

        try:
            run = start_remaining(self.workspace, names)
        except MedtuiError as exc:
            self.post_message(QueueEvent("failed", name, reason=str(exc)))
            return
        self.post_message(QueueEvent("started", name, stage=run.id))

    @on(QueueEvent)
    def _queue_event(self, event: QueueEvent) -> None:
        if event.kind == "started":
            self.notify(self.t("home.queue.started", name=event.pipeline, run=event.stage), timeout=10)
        else:
            self.notify(event.reason, severity="error", timeout=15)
        self.refresh_overview()
