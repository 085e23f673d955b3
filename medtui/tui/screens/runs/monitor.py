"""The live monitor of one run (or an overlay of up to four): charts, progress, log, gauges, stop.

One thread worker polls the run(s) incrementally (:class:`medtui.core.runs.follow.RunWatch`) at
``poll_interval`` and posts :class:`MonitorScreen.Polled`; the handler folds the deltas into
:class:`RunState` s on the UI thread. The charts (:mod:`.charts`) are redrawn by a timer, only
when the data changed. Stop and Kill ask for confirmation, then call
:func:`medtui.core.lifecycle.chain.stop_any` in a thread (a pipeline run stops after its current stage;
any other run through :func:`medtui.core.runs.backend.stop`, local or Slurm). A predict, export or
pipeline run has no loss curve: its outcome (:mod:`medtui.core.outcome`: metrics, the exported
folder, the stages) takes the charts' place. Key ``l`` switches to light
refresh (polls, redraws and gauges less often), which a Monitor of a run training on this
machine's CPU starts with (:func:`auto_light`).
"""

from __future__ import annotations

import time
from collections import deque
from functools import lru_cache
from typing import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Header, Log, ProgressBar, Static

from medtui.core.env.sysstats import DEFAULT_DISK_WARN_GB, Sampler
from medtui.core.errors import MedtuiError
from medtui.core.runs.follow import RunDelta, RunState, RunWatch
from medtui.core.runs.plan import kind_of
from medtui.core.runs.progress import format_seconds
from medtui.core.runs.records import load_run
from medtui.core.runs.states import ACTIVE
from medtui.core.workspace import Workspace
from medtui.tui.i18n import phrase, t
from medtui.tui.keymap import bind
from medtui.tui.polling import Poller
from medtui.tui.screens.base import MedtuiScreen
from medtui.tui.screens.confirm import ConfirmScreen
from medtui.tui.screens.runs import text as _text  # noqa: F401  (registers the screens' strings)
from medtui.tui.screens.runs.charts import MonitorCharts
from medtui.tui.widgets.alerts import RunAlerts
from medtui.tui.widgets.footer import MedtuiFooter
from medtui.tui.widgets.gauges import Gauges

MAX_COMPARE = 4
LOG_LINES = 1000
LIGHT_INTERVALS = (5.0, 10.0, 10.0)  # poll, chart redraw and gauge seconds under light refresh (key l)
STATUS_STYLE = {"running": "bold cyan", "succeeded": "bold green", "failed": "bold red", "stopped": "bold yellow",
                "killed": "bold red", "pending": "bold magenta"}


@lru_cache(maxsize=1)
def _no_gpu() -> bool:
    from medtui.core.env.gpu import snapshot

    return not snapshot().gpus


def auto_light(workspace: Workspace, run_id: str) -> bool:
    """Open a Monitor with light refresh when its run is training on this machine's CPU (no GPU
    visible): there the Monitor's wake-ups compete with torch's threads (docs/performance.md)."""
    try:
        return load_run(workspace.runs_dir / run_id).is_running and _no_gpu()
    except MedtuiError:
        return False


class MonitorScreen(MedtuiScreen):
    """Monitor ``run_id``; ``compare`` names up to three more runs whose loss curves are overlaid.

    ``clock`` and ``sampler`` are injectable (tests, snapshots); ``disk_warn_gb`` is the free-space
    threshold under which the disk gauge warns (used when no sampler is given).
    """

    DEFAULT_CSS = """
    MonitorScreen #status { height: 1; padding: 0 1; }
    MonitorScreen #progress-row { height: 1; padding: 0 1; }
    MonitorScreen #progress { width: auto; }
    MonitorScreen #progress Bar { width: 20; }
    MonitorScreen #progress-text { width: 1fr; margin-left: 1; }
    MonitorScreen #charts { height: 3fr; min-height: 8; }
    MonitorScreen #loss-chart { width: 2fr; }
    MonitorScreen #side { width: 1fr; }
    MonitorScreen #metric-chart { display: none; }
    MonitorScreen #charts.-metric #metric-chart { display: block; }
    MonitorScreen #outcome { display: none; height: 3fr; min-height: 4; padding: 0 1; }
    MonitorScreen.-outcome #outcome { display: block; }
    MonitorScreen.-outcome #charts { display: none; }
    MonitorScreen #log { height: 1fr; min-height: 3; border-top: solid $primary; }
    """
    BINDINGS = [
        bind("monitor.stop", "stop"),
        bind("monitor.kill", "kill"),
        bind("monitor.resume", "resume"),
        bind("monitor.pause_log", "toggle_log"),
        bind("monitor.light", "light"),
        bind("monitor.back", "back"),
    ]

    class Polled(Message):
        """New data for the monitored runs (deltas are incremental, so none may be dropped)."""

        def __init__(self, deltas: list[RunDelta], missing: list[str], outcome=None) -> None:
            super().__init__()
            self.deltas = deltas
            self.missing = missing
            self.outcome = outcome  # the primary run's core.outcome.Outcome, when it has one

    class StopPhase(Message):
        def __init__(self, phase: str) -> None:
            super().__init__()
            self.phase = phase

    class StopDone(Message):
        def __init__(self, status: str, error: str = "") -> None:
            super().__init__()
            self.status = status
            self.error = error

    def __init__(self, workspace: Workspace, run_id: str, lang: str = "en", *, compare: tuple[str, ...] | list[str] = (),
                 sampler=None, clock: Callable[[], float] = time.time, poll_interval: float = 1.0,
                 redraw_interval: float = 2.0, max_stale: float = 10.0, gauge_interval: float = 2.0,
                 disk_warn_gb: float = DEFAULT_DISK_WARN_GB, light: bool = False) -> None:
        self.run_id = run_id
        self.run_ids = [run_id] + [r for r in compare if r != run_id][: MAX_COMPARE - 1]
        self.states = {rid: RunState(rid) for rid in self.run_ids}
        self.sampler = sampler if sampler is not None else Sampler(workspace.saves_dir, disk_warn_gb=disk_warn_gb)
        self.clock = clock
        self.poll_interval = poll_interval
        self.redraw_interval = redraw_interval
        self.gauge_interval = gauge_interval
        self.log_paused = False
        self.start_light = light  # light refresh from the start (see auto_light)
        self.light = False
        self.missing: list[str] = []
        self.stop_phase = ""
        self._held: deque[str] = deque(maxlen=LOG_LINES)
        self._shown: dict[str, object] = {}
        self.max_stale = max_stale
        self._polled = False
        self.outcome = None
        self._settled = False  # a finished run's outcome is read once it is complete
        self._watches: list[RunWatch] | None = None
        self._missing: list[str] = []
        super().__init__(workspace, lang)

    @property
    def primary(self) -> RunState:
        return self.states[self.run_id]

    @property
    def comparing(self) -> bool:
        return len(self.run_ids) > 1

    @property
    def loss_points(self) -> int:
        """How many loss points the primary run's chart holds."""
        return len(self.primary.progress.series["loss"][0])

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        yield RunAlerts(id="alerts")
        with Horizontal(id="progress-row"):
            yield ProgressBar(total=1, show_eta=False, show_percentage=False, id="progress")
            yield Static(id="progress-text")
        yield Static(id="outcome")
        yield MonitorCharts(self.states, self.lang, max_stale=self.max_stale)
        yield Gauges(self.sampler, interval=self.gauge_interval, lang=self.lang,
                     disk_label=self.workspace.relative(self.workspace.saves_dir) + "/", id="gauges")
        yield Log(max_lines=LOG_LINES, id="log")
        yield MedtuiFooter()

    def _apply_title(self) -> None:
        title = t("monitor.title", self.lang)
        if self.comparing:
            title = t("monitor.compare_title", self.lang, n=len(self.run_ids))
        self.title = f"{title}: {self.run_id}"

    def relabel(self) -> None:
        self._show_log_title()
        self._shown.clear()
        self._show_status()
        self.sub_title = t("monitor.light", self.lang) if self.light else ""
        if self.outcome is not None:
            self._show_outcome(self.outcome)

    def on_mount(self) -> None:
        self._show_log_title()
        self._show_status()
        self.charts.draw()
        self.poller = Poller(self, self.poll_interval, self._read, group="monitor-poll",
                             active=lambda: self.is_current)
        self.poller.tick()
        self._redraw_timer = self.set_interval(self.redraw_interval, self._redraw_if_dirty)
        self._normal = (self.poll_interval, self.redraw_interval, self.gauge_interval)
        if self.start_light:
            self.action_light(quiet=True)

    def action_light(self, quiet: bool = False) -> None:
        """Light refresh: poll, redraw and sample the gauges less often, so a CPU-bound trainer on a
        small machine loses less to the Monitor (``bench/bench_train_overhead.py`` measures both)."""
        self.light = not self.light
        poll, redraw, gauges = LIGHT_INTERVALS if self.light else self._normal
        self.poll_interval = poll
        self.poller.set_interval(poll)
        self._redraw_timer.stop()
        self._redraw_timer = self.set_interval(redraw, self._redraw_if_dirty)
        self.query_one("#gauges", Gauges).sample_every(gauges)
        self.sub_title = t("monitor.light", self.lang) if self.light else ""
        if not quiet:
            self.notify(t("monitor.light_on" if self.light else "monitor.light_off", self.lang))

    def on_screen_resume(self) -> None:
        self.poller.tick()

    # -- polling (a worker thread: reads files, posts messages, touches no widget) ---------

    def _read(self) -> None:
        if self._watches is None:
            self._watches, self._missing = [], []
            for rid in self.run_ids:
                try:
                    self._watches.append(RunWatch(self.workspace.runs_dir / rid, follow_logs=rid == self.run_id))
                except MedtuiError:
                    self._missing.append(rid)
        try:
            deltas = [w.poll() for w in self._watches]
            found = None
            primary = next((w for w in self._watches if w.run_dir.name == self.run_id), None)
            if primary is not None and primary.run.kind != "train" and not self._settled:
                from medtui.core.outcome import outcome

                found = outcome(primary.run)
                self._settled = found is not None and found.ready and not primary.run.is_running
            self.post_message(self.Polled(deltas, self._missing, found))
        except OSError:
            pass  # a log rotated or vanished between stat and open: the next tick catches up

    @on(Polled)
    def _on_polled(self, message: Polled) -> None:
        self.missing = message.missing
        changed = False
        lines: list[str] = []
        for delta in message.deltas:
            changed |= self.states[delta.run_id].apply(delta)
            lines.extend(delta.lines)
        if lines:
            self._write_log(lines)
        if message.outcome is not None:
            self._show_outcome(message.outcome)
        first = not self._polled
        self._polled = True
        if first:  # the history is shown at once; later redraws wait for the timer
            self.charts.draw()
        elif changed:
            self.charts.dirty = True
        self._show_status()

    # -- status, progress, log ------------------------------------------------------------

    def _set(self, selector: str, content) -> None:
        if self._shown.get(selector) != content:
            self._shown[selector] = content
            self.query_one(selector, Static).update(content, layout=False)  # one fixed line: no reflow

    def _show_status(self) -> None:
        state = self.primary
        line = Text(no_wrap=True, overflow="ellipsis")
        if self.run_id in self.missing:
            line.append(t("monitor.missing", self.lang, id=self.run_id), style="bold red")
            self._set("#status", line)
            return
        line.append(self.run_id, style="bold")
        if not self._polled:
            self._set("#status", line)
            return
        line.append(f" · {state.stage} · ")
        line.append(t(f"status.{state.status}", self.lang), style=STATUS_STYLE.get(state.status, ""))
        if state.status != "pending":
            line.append(f" · {t('monitor.elapsed', self.lang)} {format_seconds(state.elapsed(self.clock()))}")
        if state.record.get("backend") == "slurm":
            nodes = state.record.get("nodes")
            job = state.record.get("job_id")
            line.append(" · " + (t("monitor.slurm_nodes", self.lang, job=job, nodes=nodes) if nodes
                                 else t("monitor.slurm", self.lang, job=job)))
        if self.stop_phase and state.status in ACTIVE:
            line.append(f" · {self.stop_phase}", style="yellow")
        elif state.reason:
            line.append(f" · {state.reason}", style="magenta" if state.status == "pending" else "red")
        self._set("#status", line)
        self.query_one(RunAlerts).show(state.record, self.lang)

        p = state.progress
        bar = self.query_one("#progress", ProgressBar)
        if p.total_steps and (bar.total != p.total_steps or bar.progress != p.steps):
            bar.update(total=p.total_steps, progress=p.steps)
        parts = [f"{t('monitor.step', self.lang)} {p.steps}/{p.total_steps or '?'}", f"{p.percent:.1f}%"]
        if p.eta is not None and state.status == "running":
            parts.append(f"{t('monitor.eta', self.lang)} {format_seconds(p.eta)}")
        if p.throughput:
            parts.append(f"{p.throughput:.0f} tok/s")
        if p.steps_per_second:
            parts.append(f"{p.steps_per_second:.2f} it/s")
        if p.steps == 0 and not p.total_steps:
            kind = state.record.get("kind") or "train"
            parts = [t("monitor.waiting" if kind == "train" else f"monitor.outcome.{kind}.steps", self.lang)]
        self._set("#progress-text", " · ".join(parts))

    def _show_outcome(self, found) -> None:
        """A run without a loss curve shows what it produced where the charts would be."""
        self.outcome = found
        self.add_class("-outcome")
        record = self.primary.record  # records written before run.json had a kind: derived as Run.kind does
        kind = record.get("kind") or kind_of(record.get("stage") or "?", record.get("config") or {})
        title = t(f"monitor.outcome.{kind}", self.lang)
        body = "\n".join(found.lines) if found.ready or self.primary.status not in ACTIVE \
            else t(f"monitor.outcome.{kind}.wait", self.lang)
        self._set("#outcome", Text.assemble((title, "bold"), "\n", body))

    def _write_log(self, lines: list[str]) -> None:
        if self.log_paused:
            self._held.extend(lines)
            self._show_log_title()
        else:
            self.query_one("#log", Log).write_lines(lines)

    def action_toggle_log(self) -> None:
        log = self.query_one("#log", Log)
        self.log_paused = not self.log_paused
        if not self.log_paused and self._held:
            log.write_lines(list(self._held))
            self._held.clear()
        self._show_log_title()

    def _show_log_title(self) -> None:
        log = self.query_one("#log", Log)
        log.border_title = (t("monitor.log_paused", self.lang, n=len(self._held)) if self.log_paused
                            else t("monitor.log", self.lang))

    # -- charts ---------------------------------------------------------------------------

    @property
    def charts(self) -> MonitorCharts:
        return self.query_one(MonitorCharts)

    def _redraw_if_dirty(self) -> None:
        if self.is_current:  # another screen covers this one: redraw when it comes back
            self.charts.redraw_if_dirty()

    # -- stop / kill ----------------------------------------------------------------------

    def action_stop(self) -> None:
        self._ask_stop(kill=False)

    def action_kill(self) -> None:
        self._ask_stop(kill=True)

    def _ask_stop(self, kill: bool) -> None:
        state = self.primary
        if state.status not in ACTIVE:
            self.notify(t("monitor.not_running", self.lang, id=self.run_id,
                          status=t(f"status.{state.status}", self.lang)), severity="warning")
            return
        key = "monitor.confirm.kill" if kill else "monitor.confirm.stop"
        job = state.record.get("job_id")
        if state.record.get("backend") == "slurm":
            key = "monitor.confirm.pending" if state.status == "pending" else key + ".slurm"
        message = phrase(key, id=self.run_id, job=str(job))

        def answered(ok: bool | None) -> None:
            if ok:
                self.stop_phase = t("status.stopping", self.lang)
                self._show_status()
                self._stop_run(kill)

        confirm = ConfirmScreen(message, danger=kill)
        self.app.push_screen(confirm, answered)

    @work(thread=True, exclusive=True, group="monitor-stop", exit_on_error=False)
    def _stop_run(self, kill: bool) -> None:
        from medtui.core.lifecycle.chain import stop_any

        try:
            run = load_run(self.workspace.runs_dir / self.run_id)
            fresh = stop_any(run, kill=kill, on_phase=lambda phase: self.post_message(self.StopPhase(phase)))
            self.post_message(self.StopDone(fresh.status))
        except MedtuiError as exc:
            self.post_message(self.StopDone("", str(exc)))

    @on(StopPhase)
    def _on_stop_phase(self, message: StopPhase) -> None:
        self.stop_phase = message.phase
        self._show_status()

    @on(StopDone)
    def _on_stop_done(self, message: StopDone) -> None:
        self.stop_phase = ""
        if message.error:
            self.notify(message.error, severity="error")
        self._show_status()

    def action_resume(self) -> None:
        """Continue this run from a checkpoint; the new run's Monitor replaces this one."""
        from medtui.tui.screens.runs.resume import open_resume

        def started(new_id: str | None) -> None:
            if new_id:
                self.notify(t("resume.started", self.lang, id=new_id))
                self.app.switch_screen(MonitorScreen(self.workspace, new_id, self.lang, sampler=self.sampler,
                                                     clock=self.clock, light=auto_light(self.workspace, new_id)))

        open_resume(self, self.workspace, self.run_id, self.lang, started)

    def worker_failed(self, group: str, error: BaseException) -> None:
        if group == "monitor-stop":
            self.stop_phase = ""
            self._show_status()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
