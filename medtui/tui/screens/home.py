"""Home: the tutorial's lifecycle (PT → SFT, then RM → PPO, DPO or KTO, then Export).

Each node shows its stage's latest run: status, output folder, final loss and age. Enter opens the
stage's Train form prefilled through lifecycle wiring; ``p`` queues the stages that have not
succeeded yet, as ``medtui pipeline`` would. Summaries are read in a worker every two seconds.
"""

from __future__ import annotations

import time
from typing import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid
from textual.content import Content
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from medtui.core.errors import MedtuiError
from medtui.core.lifecycle.overview import Overview, StageSummary
from medtui.core.runs.progress import format_age
from medtui.core.stages.spec import stage_title
from medtui.core.workspace import Workspace
from medtui.tui.i18n import localise_bindings, phrase, register, t
from medtui.tui.keymap import bind
from medtui.tui.messages import OverviewReady, PrefillReady, QueueEvent, QueuePlanned
from medtui.tui.screens.base import MedtuiScreen
from medtui.tui.screens.confirm import ConfirmScreen
from medtui.tui.widgets.alerts import short_alerts, short_diagnosis, tr
from medtui.tui.widgets.footer import MedtuiFooter

TEXT = register({
    "home.open": ("Open form", "打开表单"),
    "home.pipeline": ("Queue rest", "运行剩余"),
    "home.refresh": ("Refresh", "刷新"),
    "home.next": ("Next stage", "下一阶段"),
    "home.previous": ("Previous stage", "上一阶段"),
    "home.never": ("not run yet", "尚未运行"),
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
    "home.confirm.note": ("Runs keep going if you quit medtui; the stages not yet started are then dropped.",
                          "退出 medtui 后,正在进行的运行会继续,尚未开始的阶段将被取消。"),
    "home.queue.start": ("Pipeline {name}: stage {stage} starting", "流程 {name}:阶段 {stage} 开始"),
    "home.queue.end": ("Pipeline {name}: stage {stage} {status}", "流程 {name}:阶段 {stage} {status}"),
    "home.queue.done": ("Pipeline {name} finished: {n} stage(s) succeeded", "流程 {name} 完成:{n} 个阶段成功"),
    "home.queue.failed": ("Pipeline {name} stopped at {stage}: {reason}", "流程 {name} 停在 {stage}:{reason}"),
    "home.queue.running": ("pipeline running: {stage}", "流程运行中:{stage}"),
})

#: Node order on screen (rows: PT SFT / RM PPO DPO KTO / Export).
NODES = ("pt", "sft", "rm", "ppo", "dpo", "kto", "export")
FEEDS = {"pt": "SFT", "sft": "RM · DPO · KTO", "rm": "PPO", "ppo": "Export", "dpo": "Export", "kto": "Export"}
STATUS_ICON = {"pending": "…", "running": "▶", "succeeded": "✓", "failed": "✗", "stopped": "■"}
STATUS_STYLE = {"pending": "$accent", "running": "$warning", "succeeded": "$success", "failed": "$error",
                "stopped": "$secondary"}
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
        self.summary = StageSummary(stage)

    def on_mount(self) -> None:
        localise_bindings(self, self.lang)
        self.show(self.summary, self.lang)

    def show(self, summary: StageSummary, lang: str) -> None:
        key = (summary.run_id, summary.status, summary.output_dir, summary.loss, format_age(summary.age),
               summary.reason, summary.cause, summary.cause_reason, summary.alerts, lang)
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
            self.set_class(summary.status == status, f"-{status}")
        self.update(self.render_summary(summary, lang))

    @staticmethod
    def render_summary(s: StageSummary, lang: str) -> Content:
        if s.run_id is None:
            return Content.styled(t("home.never", lang), "dim")
        status = t(f"status.{s.status}", lang)
        lines = [Content.styled(f"{STATUS_ICON.get(s.status or '', '?')} {status}", STATUS_STYLE.get(s.status, "")),
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
        self.overview = Overview(workspace, clock)
        self.summaries: dict[str, StageSummary] = {}
        self.queue_status = ""

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
        self.refresh_overview()
        self.set_interval(self.POLL_SECONDS, self.refresh_overview)
        self.query_one("#node-pt").focus()

    def relabel(self) -> None:
        self._draw_diagram()
        for node in self.query(StageNode):
            node.show(self.summaries.get(node.stage, node.summary), self.lang)
        self._draw_status()

    def _draw_diagram(self) -> None:
        key = tuple(self.summaries.get(stage, StageSummary(stage)).status for stage in NODES)
        if key == getattr(self, "_diagram_key", None):
            return
        self._diagram_key = key
        parts: list[Content | str | tuple[str, str]] = []
        for stage, tail in DIAGRAM:
            if stage is not None:
                status = self.summaries.get(stage, StageSummary(stage)).status
                parts.append((stage.upper() if stage != "export" else "Export",
                              "bold " + STATUS_STYLE.get(status or "", "$text-muted")))
            parts.append(tail)
        self.query_one("#diagram", Static).update(Content.assemble(*parts))

    def _draw_status(self) -> None:
        text = (self.queue_status or self.t("home.hint")) + "\n" + self.t("home.workspace",
                                                                         path=str(self.workspace.root))
        self.query_one("#home-status", Static).update(Content(text))

    # -- overview ---------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.refresh_overview()

    def on_screen_resume(self) -> None:
        self.refresh_overview()  # back on Home: show what happened meanwhile at once

    def refresh_overview(self) -> None:
        if self.is_current or not self.summaries:
            self._poll_overview()

    @work(thread=True, exclusive=True, group="overview", exit_on_error=False)
    def _poll_overview(self) -> None:
        self.post_message(OverviewReady(self.overview.poll()))

    @on(OverviewReady)
    def _overview_ready(self, message: OverviewReady) -> None:
        self.summaries = message.summaries
        for node in self.query(StageNode):
            node.show(self.summaries[node.stage], self.lang)
        self._draw_diagram()

    # -- open a stage's form ------------------------------------------------------------------
    @on(StageNode.Chosen)
    def _chosen(self, message: StageNode.Chosen) -> None:
        self._prefill(message.stage)

    @work(thread=True, exclusive=True, group="prefill", exit_on_error=False)
    def _prefill(self, stage: str) -> None:
        from medtui.core.lifecycle.prefill import prefill

        self.post_message(PrefillReady(stage, prefill(self.workspace, stage)))

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
                self._run_queue(message.pipeline, message.names)

        confirm = ConfirmScreen(question, phrase("home.confirm.note"))
        self.app.push_screen(confirm, answered)

    @work(thread=True, exclusive=True, group="queue", exit_on_error=False)
    def _run_queue(self, pipeline, names: list[str]) -> None:
        from medtui.core.lifecycle.queue import run_remaining

        worker = get_current_worker()

        def on_event(kind: str, payload) -> None:
            if kind == "stage_start":
                self.post_message(QueueEvent("stage_start", pipeline.name, payload.name))
            else:
                self.post_message(QueueEvent("stage_end", pipeline.name, payload.name, payload.status, payload.reason))

        results = run_remaining(self.workspace, pipeline, names, on_event=on_event,
                                cancelled=lambda: worker.is_cancelled)
        bad = next((r for r in results if r.status != "succeeded"), None)
        self.post_message(QueueEvent("finished", pipeline.name, bad.name if bad else "", bad.status if bad else "",
                                     bad.reason if bad else "", sum(r.status == "succeeded" for r in results)))

    @on(QueueEvent)
    def _queue_event(self, event: QueueEvent) -> None:
        if event.kind == "stage_start":
            self.queue_status = self.t("home.queue.running", stage=event.stage)
            self.notify(self.t("home.queue.start", name=event.pipeline, stage=event.stage))
        elif event.kind == "stage_end":
            self.notify(self.t("home.queue.end", name=event.pipeline, stage=event.stage,
                               status=self.t(f"status.{event.status}") if event.status else event.status),
                        severity="information" if event.status == "succeeded" else "warning")
        else:
            self.queue_status = ""
            if event.stage:
                self.notify(self.t("home.queue.failed", name=event.pipeline, stage=event.stage,
                                   reason=event.reason or event.status), severity="error", timeout=15)
            else:
                self.notify(self.t("home.queue.done", name=event.pipeline, n=event.count))
        self._draw_status()
        self.refresh_overview()
