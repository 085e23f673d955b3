"""Every run of the workspace (CLI-started and earlier medtui runs too), refreshed at 1 Hz.

A :class:`~medtui.tui.polling.Poller` reads :class:`medtui.core.runs.summary.RunsWatcher` (which
re-reads a run.json only when it changed and follows each trainer_log.jsonl from its last offset)
while the list is shown, and posts the rows; the handler updates the table in place, and the
cursor moves to a run that appears on top. Enter opens a run's monitor; space marks up to four
runs and ``c`` overlays their loss curves; ``r`` resumes the highlighted run from a checkpoint.
With Slurm runs in the workspace, a Where column (``local`` / ``job 1234``) follows Status.
"""

from __future__ import annotations

import time
from typing import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Static

from medtui.core.env.sysstats import DEFAULT_DISK_WARN_GB
from medtui.core.runs.progress import format_seconds
from medtui.core.runs.summary import RunSummary, RunsWatcher
from medtui.core.workspace import Workspace
from medtui.tui.i18n import t
from medtui.tui.keymap import bind
from medtui.tui.polling import Poller
from medtui.tui.screens.base import MedtuiScreen
from medtui.tui.screens.runs import text as _text  # noqa: F401  (registers the screens' strings)
from medtui.tui.screens.runs.monitor import MAX_COMPARE, STATUS_STYLE, MonitorScreen, auto_light
from medtui.tui.widgets.footer import MedtuiFooter

COLUMNS = ("mark", "id", "stage", "status", "loss", "duration", "started", "output")
SLURM_COLUMNS = ("mark", "id", "stage", "status", "where", "loss", "duration", "started", "output")
WIDTHS = {"mark": 1, "id": 24, "stage": 6, "status": 9, "where": 10, "loss": 10, "duration": 8, "started": 11,
          "output": 40}


class RunsScreen(MedtuiScreen):
    NAME = "runs"
    DEFAULT_CSS = """
    RunsScreen #runs-hint { height: auto; padding: 0 1; color: $text-muted; }
    RunsScreen #runs-table { height: 1fr; }
    """
    BINDINGS = [
        bind("runs.open", "open", priority=True),
        bind("runs.mark", "mark"),
        bind("runs.compare", "compare"),
        bind("runs.resume", "resume"),
    ]

    class Polled(Message):
        """The full, current list of rows (only the newest one matters)."""

        def __init__(self, rows: list[RunSummary], unreadable: dict[str, str]) -> None:
            super().__init__()
            self.rows = rows
            self.unreadable = unreadable

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, RunsScreen.Polled)

    def __init__(self, workspace: Workspace, lang: str = "en", *, clock: Callable[[], float] = time.time,
                 poll_interval: float = 1.0, sampler=None, disk_warn_gb: float = DEFAULT_DISK_WARN_GB) -> None:
        super().__init__(workspace, lang)
        self.clock = clock
        self.poll_interval = poll_interval
        self.sampler = sampler
        self.disk_warn_gb = disk_warn_gb
        self.rows: list[RunSummary] = []
        self.unreadable: dict[str, str] = {}  # run folder -> why its run.json cannot be read
        self.marked: list[str] = []
        self._order: list[str] = []
        self._cells: dict[tuple[str, str], object] = {}
        self.columns: tuple[str, ...] = COLUMNS
        self.watcher = RunsWatcher(workspace)

    def compose(self) -> ComposeResult:
        yield self.navbar()
        yield Static(id="runs-hint")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield MedtuiFooter()

    def on_mount(self) -> None:
        self._set_columns(COLUMNS)
        self._show_hint()
        self.query_one("#runs-table", DataTable).focus()
        self.poller = Poller(self, self.poll_interval, self._read, group="runs-poll", active=lambda: self.is_current)
        self.poller.tick()

    def on_screen_resume(self) -> None:
        self.poller.tick()  # a monitor closed, or the list is shown again: catch up now

    def _read(self) -> None:
        try:
            rows = self.watcher.poll()
            self.post_message(self.Polled(rows, dict(self.watcher.unreadable)))
        except OSError:
            pass  # a run folder changed under us: the next tick catches up

    # -- table ----------------------------------------------------------------------------

    def relabel(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        for key in self.columns:
            table.columns[key].label = Text(t(f"runs.col.{key}", self.lang))
        self._cells.clear()
        self._order = []  # the next _show_rows rebuilds every row in the new language
        self._show_rows()

    def _cells_for(self, row: RunSummary) -> dict[str, object]:
        now = self.clock()
        took = row.duration(now)
        duration = format_seconds(took) if took is not None else "—"
        started = time.strftime("%m-%d %H:%M", time.localtime(row.started)) if row.started else "—"
        loss = f"{row.final_loss:.4f}" if row.final_loss is not None else "—"
        return {
            "mark": "●" if row.id in self.marked else " ",
            "id": row.id,
            "stage": row.stage,
            "status": Text(t(f"status.{row.status}", self.lang), style=STATUS_STYLE.get(row.status, "")),
            "loss": loss,
            "duration": duration,
            "started": started,
            "where": t("runs.where.local", self.lang) if row.backend == "local" else
            t("runs.where.slurm", self.lang, job=row.run.job_id if row.run else "?"),
            "output": row.output_dir,
        }

    @on(Polled)
    def _on_polled(self, message: Polled) -> None:
        self.rows = message.rows
        self.unreadable = message.unreadable
        self._show_rows()

    def _set_columns(self, columns: tuple[str, ...]) -> None:
        table = self.query_one("#runs-table", DataTable)
        table.clear(columns=True)
        for key in columns:
            table.add_column(t(f"runs.col.{key}", self.lang), key=key, width=WIDTHS[key])
        self.columns = columns
        self._order = []
        self._cells.clear()

    def _show_rows(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        wanted = SLURM_COLUMNS if any(r.backend != "local" for r in self.rows) else COLUMNS
        if wanted != self.columns:
            self._set_columns(wanted)
        ids = [r.id for r in self.rows]
        self.marked = [m for m in self.marked if m in ids]
        if ids != self._order:
            current = self.cursor_run()
            if self._order and ids and ids[0] not in self._order:
                current = ids[0]  # a new run on top: follow it
            table.clear()
            self._cells.clear()
            for row in self.rows:
                cells = self._cells_for(row)
                table.add_row(*(cells[c] for c in self.columns), key=row.id)
                self._cells.update({(row.id, c): v for c, v in cells.items()})
            self._order = ids
            if current in ids:
                table.move_cursor(row=ids.index(current))
        else:
            for row in self.rows:
                for col, value in self._cells_for(row).items():
                    if col in self.columns and self._cells.get((row.id, col)) != value:
                        self._cells[(row.id, col)] = value
                        table.update_cell(row.id, col, value)
        self._show_hint()

    def _show_hint(self) -> None:
        hint = Text()
        if self.unreadable:  # one bad record must not hide the others: name it, show the rest
            name, why = next(iter(sorted(self.unreadable.items())))
            hint.append(t("runs.unreadable", self.lang, n=len(self.unreadable), run=name, reason=why) + "\n",
                        style="bold red")
        if not self.rows:
            hint.append(t("runs.empty", self.lang) if not self.unreadable else "")
        elif self.marked:
            hint.append(t("runs.marked", self.lang, n=len(self.marked)) + " · " + t("runs.compare_need", self.lang))
        else:
            hint.append(t("runs.compare_need", self.lang))
        hint.rstrip()
        self.query_one("#runs-hint", Static).update(hint)

    def cursor_run(self) -> str | None:
        table = self.query_one("#runs-table", DataTable)
        if not self._order or table.cursor_row is None or not 0 <= table.cursor_row < len(self._order):
            return None
        return self._order[table.cursor_row]

    # -- actions --------------------------------------------------------------------------

    def _monitor(self, run_id: str, compare: list[str] | None = None) -> MonitorScreen:
        return MonitorScreen(self.workspace, run_id, self.lang, compare=compare or [], sampler=self.sampler,
                             clock=self.clock, disk_warn_gb=self.disk_warn_gb,
                             light=auto_light(self.workspace, run_id))

    @on(DataTable.RowSelected, "#runs-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.app.push_screen(self._monitor(event.row_key.value))

    def action_open(self) -> None:
        run_id = self.cursor_run()
        if run_id:
            self.app.push_screen(self._monitor(run_id))

    def action_mark(self) -> None:
        run_id = self.cursor_run()
        if run_id is None:
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        elif len(self.marked) >= MAX_COMPARE:
            self.notify(t("runs.marked_max", self.lang), severity="warning")
            return
        else:
            self.marked.append(run_id)
        self._show_rows()

    def action_compare(self) -> None:
        if not 2 <= len(self.marked) <= MAX_COMPARE:
            self.notify(t("runs.compare_need", self.lang), severity="warning")
            return
        self.app.push_screen(self._monitor(self.marked[0], self.marked[1:]))

    def action_resume(self) -> None:
        """Continue the highlighted run from a checkpoint (a new run; its Monitor opens)."""
        from medtui.tui.screens.runs.resume import open_resume

        run_id = self.cursor_run()
        if run_id is None:
            return

        def started(new_id: str | None) -> None:
            if new_id:
                self.notify(t("resume.started", self.lang, id=new_id))
                self.app.push_screen(self._monitor(new_id))

        open_resume(self, self.workspace, run_id, self.lang, started)
