"""The Resume dialog (Runs and Monitor, key ``r``): pick a checkpoint, optionally add steps or epochs.

It lists the run's checkpoints with step and loss (latest first, selected), or says why the run
cannot resume. On Resume it starts :func:`medtui.core.runs.resume.resume` in a thread worker
and opens the new run's Monitor, so the user sees one continuous loss history.
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from medtui.core.errors import MedtuiError
from medtui.core.runs.records import load_run
from medtui.core.runs.resume import list_checkpoints, resume_refusal
from medtui.core.stages.launch import resume
from medtui.core.workspace import Workspace
from medtui.tui.run_text import text


class ResumeScreen(ModalScreen[str | None]):
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
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="resume.cancel")]

    class Started(Message):
        def __init__(self, run_id: str = "", error: str = "") -> None:
            super().__init__()
            self.run_id, self.error = run_id, error

    def __init__(self, workspace: Workspace, run_id: str, lang: str = "en") -> None:
        super().__init__()
        self.workspace, self.run_id, self.lang = workspace, run_id, lang
        self.run = load_run(workspace.runs_dir / run_id)
        self.why = resume_refusal(self.run)
        self.checkpoints = [] if self.why else list(reversed(list_checkpoints(self.run.output_dir)))
        if not self.why and not self.checkpoints:
            self.why = text(lang, "resume.none", path=str(self.run.output_dir))
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(text(self.lang, "resume.title", id=self.run_id), id="resume-title")
            if self.why:
                yield Static(self.why, id="resume-why", markup=False)
            else:
                yield OptionList(*[Option(text(self.lang, "resume.option", step=c.step,
                                                loss=f"{c.loss:.4f}" if c.loss is not None else "?",
                                                name=c.path.name), id=str(c.path)) for c in self.checkpoints],
                                 id="resume-checkpoints", compact=True)
                yield Static(text(self.lang, "resume.more"), classes="field-help")
                with Horizontal():
                    yield Input(placeholder="max_steps", id="resume-steps", type="integer", compact=True)
                    yield Input(placeholder="num_train_epochs", id="resume-epochs", type="number", compact=True)
                yield Static("", id="resume-error", markup=False)
            with Horizontal(id="resume-buttons"):
                yield Button(text(self.lang, "resume.cancel"), id="resume-no", compact=True)
                if not self.why:
                    yield Button(text(self.lang, "resume.go"), id="resume-yes", variant="success", compact=True)

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
            self.query_one("#resume-error", Static).update(text(self.lang, "resume.bad_number"))
            return
        self.busy = True
        self.query_one("#resume-error", Static).update(text(self.lang, "resume.starting"))
        self._start(str(self.checkpoints[index].path), overrides)

    @work(thread=True, exclusive=True, group="resume", exit_on_error=False)
    def _start(self, checkpoint: str, overrides: dict[str, Any]) -> None:
        try:
            new = resume(self.run, self.workspace, checkpoint=checkpoint, overrides=overrides)
            self.post_message(self.Started(new.id))
        except MedtuiError as exc:
            self.post_message(self.Started(error=str(exc)))

    @on(Started)
    def _started(self, message: Started) -> None:
        self.busy = False
        if message.error:
            self.query_one("#resume-error", Static).update(message.error)
            return
        self.dismiss(message.run_id)
