"""The Resume dialog (Runs and Monitor, key ``r``): pick a checkpoint, optionally add steps or epochs.

It lists the run's checkpoints with step and loss (latest first, selected), or says why the run
cannot resume. On Resume it starts :func:`medtui.core.runs.resume.resume` in a thread worker
and opens the new run's Monitor, so the user sees one continuous loss history.
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from medtui.core.errors import MedtuiError
from medtui.core.runs.records import load_run
from medtui.core.runs.resume import list_checkpoints, resume_refusal
from medtui.core.stages.launch import resume
from medtui.core.workspace import Workspace
from medtui.tui.keymap import bind
from medtui.tui.screens.base import MedtuiModal
from medtui.tui.screens.runs import text as _text  # noqa: F401  (registers the screens' strings)


def open_resume(screen, workspace: Workspace, run_id: str, lang: str, started) -> None:
    """Push the Resume dialog for ``run_id`` over ``screen``; a missing or unreadable run record is a
    notification, never an exception in the key handler."""
    try:
        dialog = ResumeScreen(workspace, run_id, lang)
    except MedtuiError as exc:
        screen.notify(str(exc), severity="error")
        return
    screen.app.push_screen(dialog, started)


class ResumeScreen(MedtuiModal):
    """Dismisses with the new run's id, or None when cancelled or refused."""

    DEFAULT_CSS = """
    ResumeScreen { align: center middle; }
    ResumeScreen > Vertical { width: 76; max-width: 95%; height: auto; max-height: 100%; border: thick $accent;
                              background: $surface; padding: 0 1; }
    ResumeScreen OptionList { height: auto; max-height: 8; margin: 1 0 0 0; }
    ResumeScreen #resume-why, ResumeScreen #resume-error { color: $warning; height: auto; }
    ResumeScreen Horizontal { height: auto; align-horizontal: right; }
    ResumeScreen Button { margin-left: 2; }
    ResumeScreen Input { width: 1fr; margin-right: 1; }
    ResumeScreen #resume-buttons { margin-top: 1; }
    """
    BINDINGS = [bind("dialog.cancel", "cancel")]

    class Started(Message):
        def __init__(self, run_id: str = "", error: str = "") -> None:
            super().__init__()
            self.run_id, self.error = run_id, error

    def __init__(self, workspace: Workspace, run_id: str, lang: str = "en") -> None:
        super().__init__(workspace, lang)
        self.run_id = run_id
        self.run = load_run(workspace.runs_dir / run_id)
        self.why = resume_refusal(self.run)
        self.checkpoints = [] if self.why else list(reversed(list_checkpoints(self.run.output_dir)))
        if not self.why and not self.checkpoints:
            self.why = self.t("resume.none", path=str(self.run.output_dir))
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield self.tr(Static(id="resume-title", markup=False), "resume.title", id=self.run_id)
            if self.why:
                yield Static(self.why, id="resume-why", markup=False)
            else:
                yield OptionList(*[Option(self.t("resume.option", step=c.step,
                                                loss=f"{c.loss:.4f}" if c.loss is not None else "?",
                                                name=c.path.name), id=str(c.path)) for c in self.checkpoints],
                                 id="resume-checkpoints", compact=True)
                yield self.tr(Static(classes="field-help"), "resume.more")
                with Horizontal():
                    yield Input(placeholder="max_steps", id="resume-steps", type="integer", compact=True)
                    yield Input(placeholder="num_train_epochs", id="resume-epochs", type="number", compact=True)
                yield Static("", id="resume-error", markup=False)
            with Horizontal(id="resume-buttons"):
                yield self.tr(Button("", id="resume-no", compact=True), "resume.cancel")
                if not self.why:
                    yield self.tr(Button("", id="resume-yes", variant="success", compact=True), "resume.go")

    def on_mount(self) -> None:
        if self.checkpoints:
            options = self.query_one(OptionList)
            options.highlighted = 0
            options.focus()
        else:
            self.query_one("#resume-no", Button).focus()

    def overrides(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, widget_id, kind in (("max_steps", "#resume-steps", int), ("num_train_epochs", "#resume-epochs", float)):
            value = self.query_one(widget_id, Input).value.strip()
            if value:
                out[key] = kind(value)
        return out

    @on(Button.Pressed, "#resume-no")
    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    @on(Button.Pressed, "#resume-yes")
    @on(OptionList.OptionSelected)
    def _go(self) -> None:
        if self.busy or self.why:
            return
        options = self.query_one(OptionList)
        index = options.highlighted if options.highlighted is not None else 0
        try:
            overrides = self.overrides()
        except ValueError:
            self.tr(self.query_one("#resume-error", Static), "resume.bad_number")
            return
        self.busy = True
        self.tr(self.query_one("#resume-error", Static), "resume.starting")
        self._start(str(self.checkpoints[index].path), overrides)

    @work(thread=True, exclusive=True, group="resume", exit_on_error=False)
    def _start(self, checkpoint: str, overrides: dict[str, Any]) -> None:
        try:
            new = resume(self.run, self.workspace, checkpoint=checkpoint, overrides=overrides)
            self.post_message(self.Started(new.id))
        except MedtuiError as exc:
            self.post_message(self.Started(error=str(exc)))

    def worker_failed(self, group: str, error: BaseException) -> None:
        self.busy = False  # the app has shown the error; the dialog can be used again
        self.show(self.query_one("#resume-error", Static), "")

    @on(Started)
    def _started(self, message: Started) -> None:
        self.busy = False
        if message.error:
            self.show(self.query_one("#resume-error", Static), message.error)
            return
        self.dismiss(message.run_id)
