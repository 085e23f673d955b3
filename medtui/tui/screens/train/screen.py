"""Train: a stage form generated from the stage specification (no per-stage forms by hand).

Stage and method selectors on top; one collapsible section per spec section with a field per
argument (label, control, bilingual help, problem); an "other keys" section for everything the
form has no field for, passed through untouched. Validation runs as you type. Preview shows the
exact argv, environment and YAML; Save and Load use llamafactory YAML; Start runs the pre-flight
checks in a worker and either marks the fields with problems or opens the run's monitor.
"""

from __future__ import annotations

from typing import Any

import yaml
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from medtui.core.errors import MedtuiError
from medtui.core.stages.spec import METHODS, STAGES, stage_title
from medtui.core.stages.validate import Problem, validate
from medtui.core.workspace import Workspace
from medtui.tui.i18n import phrase
from medtui.tui.keymap import bind
from medtui.tui.messages import RunStarted, StartFailed
from medtui.tui.screens.base import MedtuiScreen, relabel_select
from medtui.tui.screens.train import pickers
from medtui.tui.screens.train import text as _text  # noqa: F401  (registers the screen's strings)
from medtui.tui.screens.train.fields import FieldRow
from medtui.tui.screens.train.form import EXTRAS, FormSection, StageForm
from medtui.tui.screens.train.formmodel import (
    SELECTOR_KEYS,
    FormState,
    form_fields,
    switch,
    typed_config,
)
from medtui.tui.screens.train.search import FieldSearch
from medtui.tui.widgets.dialogs import ChoiceScreen, MultiChoiceScreen, PathScreen, PreviewScreen
from medtui.tui.widgets.footer import MedtuiFooter

SLURM_PREFIX = "slurm_"


class PickerReady(Message):
    def __init__(self, field: str, kind: str, options: list, error: str | None = None) -> None:
        super().__init__()
        self.field, self.kind, self.options, self.error = field, kind, options, error


class DialogReady(Message):
    def __init__(self, purpose: str, suggestions: list[str]) -> None:
        super().__init__()
        self.purpose, self.suggestions = purpose, suggestions


class EstimateReady(Message):
    def __init__(self, head: str, detail: str, level: str) -> None:
        super().__init__()
        self.head, self.detail, self.level = head, detail, level


class ConfigLoaded(Message):
    def __init__(self, path: str, config: dict[str, Any]) -> None:
        super().__init__()
        self.path, self.config = path, config


class ConfigSaved(Message):
    def __init__(self, path: str, command: str, dropped: dict[str, str]) -> None:
        super().__init__()
        self.path, self.command, self.dropped = path, command, dropped


class FileFailed(Message):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class TrainScreen(MedtuiScreen):
    NAME = "train"
    BINDINGS = [
        bind("train.start", "start"),
        bind("train.preview", "preview"),
        bind("train.save", "save"),
        bind("train.load", "load"),
        bind("train.browse", "browse", show=False),
        bind("train.find", "find"),
    ]

    def __init__(self, workspace: Workspace, lang: str = "en", config: dict[str, Any] | None = None) -> None:
        super().__init__(workspace, lang)
        self.state, self.load_problems = FormState.from_config(config) if config else (FormState(), [])
        self.problems: list[Problem] = []
        self.extras_problems: list[Problem] = []
        self.preflight_problems: list[Problem] = []
        self.preview_plan = None
        self.preview_config: dict[str, Any] | None = None
        self.config_path: str | None = None
        self.starting = False
        self.ready = False  # widgets composed (is_mounted turns true only after on_mount)
        self._profile: dict[str, Any] | None = None  # the Slurm cluster profile, read when first needed

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield self.navbar()
        with Horizontal(id="train-top"):
            yield Label(self.t("train.stage"), id="stage-label")
            yield Select(self._stage_options(), value=self.state.stage, allow_blank=False, compact=True, id="stage")
            yield Label(self.t("train.method"), id="method-label")
            yield Select([(m, m) for m in METHODS], value=self.state.method, allow_blank=False, compact=True,
                         id="method")
        yield StageForm(self.state, self.lang, fallback=self._profile_value)
        yield Static("", id="train-estimate")
        with Horizontal(id="train-actions"):
            for action, key in (("preview", "^g"), ("save", "^s"), ("load", "^o"), ("start", "^r")):
                yield Button(self._button_label(action, key), id=f"do-{action}", compact=True,
                             variant="success" if action == "start" else "default")
        yield MedtuiFooter()

    @property
    def form(self) -> StageForm:
        return self.query_one(StageForm)

    def _button_label(self, action: str, key: str) -> str:
        return f"{self.t('train.' + action)} {key}"

    def _stage_options(self) -> list[tuple[str, str]]:
        return [(f"{s} · {stage_title(s, self.lang)}", s) for s in STAGES]

    def _profile_value(self, name: str) -> str | None:
        """The cluster profile's value for a ``slurm_*`` field (what an empty field means)."""
        if not name.startswith(SLURM_PREFIX):
            return None
        if self._profile is None:
            from medtui.core.slurm.profile import load_profile

            try:
                self._profile = load_profile(self.workspace)
            except MedtuiError:
                self._profile = {}
        value = self._profile.get(name[len(SLURM_PREFIX):])
        if isinstance(value, list):
            value = " ".join(value)
        return None if value in (None, "", []) else str(value)

    def on_mount(self) -> None:
        self.ready = True
        self._revalidate(extra=self.load_problems)

    async def _rebuild(self) -> None:
        await self.form.rebuild(self.state)
        self._revalidate()

    @on(StageForm.RowsBuilt)
    def _rows_built(self) -> None:
        self._revalidate()

    def relabel(self) -> None:
        self.query_one("#stage-label", Label).update(self.t("train.stage"))
        self.query_one("#method-label", Label).update(self.t("train.method"))
        relabel_select(self.query_one("#stage", Select), self._stage_options())
        for action, key in (("preview", "^g"), ("save", "^s"), ("load", "^o"), ("start", "^r")):
            self.query_one(f"#do-{action}", Button).label = self._button_label(action, key)
        self._revalidate()

    # -- the state -----------------------------------------------------------------------------
    def current_config(self) -> dict[str, Any]:
        """The config the form stands for right now (what Preview, Save and Start use)."""
        return self.state.config()

    async def set_config(self, config: dict[str, Any]) -> list[Problem]:
        """Show ``config`` (a prefill or a loaded YAML); returns what could not be placed."""
        self.state, problems = FormState.from_config(config)
        self.preview_plan = self.preview_config = None
        self.preflight_problems = []
        self.extras_problems = []
        if self.ready:
            with self.prevent(Select.Changed):
                self.query_one("#stage", Select).value = self.state.stage
                self.query_one("#method", Select).value = self.state.method
            await self._rebuild()
            self._revalidate(extra=problems)
        else:
            self.load_problems = problems
        return problems

    @on(Select.Changed, "#stage, #method")
    async def _selector_changed(self, event: Select.Changed) -> None:
        stage = self.query_one("#stage", Select).value
        method = self.query_one("#method", Select).value
        if (stage, method) == (self.state.stage, self.state.method):
            return
        from medtui.core.lifecycle.prefill import retarget_output

        moved = retarget_output(self.state.values.get("output_dir"), self.state.method, str(method))
        if moved is not None:
            self.state.values["output_dir"] = moved  # saves/<model>/full/sft -> saves/<model>/lora/sft
        self.state = switch(self.state, str(stage), str(method))
        await self._rebuild()

    @on(Input.Changed, ".field-control")
    @on(Select.Changed, ".field-control")
    def _field_changed(self, event: Input.Changed | Select.Changed) -> None:
        row = next(a for a in event.control.ancestors if isinstance(a, FieldRow))
        value = row.value
        if value is None or (isinstance(value, str) and not value.strip()):
            self.state.values.pop(row.arg.name, None)
        else:
            self.state.values[row.arg.name] = value
        if row.arg.name == "launch_on":
            self.form.show_conditional_rows()
        self.preflight_problems = []
        self._revalidate()

    @on(TextArea.Changed, "#extras")
    def _extras_changed(self, event: TextArea.Changed) -> None:
        text = event.text_area.text
        self.extras_problems = []
        try:
            data = yaml.safe_load(text) if text.strip() else {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            self.extras_problems = [Problem(EXTRAS, f"{where}{getattr(exc, 'problem', exc)}")]
            data = None
        if data is not None and not isinstance(data, dict):
            self.extras_problems = [Problem(EXTRAS, self.t("train.extras.bad"))]
        elif isinstance(data, dict):
            fields = form_fields(self.state.stage, self.state.method)
            clash = [k for k in data if k in SELECTOR_KEYS or k in fields]
            if clash:
                self.extras_problems = [Problem(EXTRAS, self.t("train.extras.reserved", key=k)) for k in clash]
            else:
                self.state.extras = data
        self.preflight_problems = []
        self._revalidate()

    # -- problems ------------------------------------------------------------------------------
    def _revalidate(self, extra: list[Problem] | None = None) -> list[Problem]:
        problems = validate(self.current_config()) + self.extras_problems + list(extra or []) + self.preflight_problems
        self.problems = problems
        if self.ready:
            self._schedule_estimate()
            self.form.show_problems(problems, reveal=bool(self.preflight_problems or extra))
        return problems

    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    # -- live memory estimate ----------------------------------------------------------------------
    def _schedule_estimate(self) -> None:
        """Re-estimate shortly after the last change (typing does not start a worker per key)."""
        if getattr(self, "_estimate_timer", None) is not None:
            self._estimate_timer.stop()
        self._estimate_timer = self.set_timer(0.3, self._estimate)

    def _estimate(self) -> None:
        self._estimate_worker(self.current_config(), self.lang)

    @work(thread=True, exclusive=True, group="train-estimate", exit_on_error=False)
    def _estimate_worker(self, config: dict[str, Any], lang: str) -> None:
        from medtui.tui.screens.train.estimate import estimate_lines

        self.post_message(EstimateReady(*estimate_lines(config, self.workspace, lang)))

    @on(EstimateReady)
    def _estimate_ready(self, message: EstimateReady) -> None:
        box = self.query_one("#train-estimate", Static)
        box.update(Content(message.head + ("\n" + message.detail if message.detail else "")))
        box.set_class(bool(message.head), "-shown")
        for level in ("ok", "warn", "error"):
            box.set_class(message.level == level, f"-{level}")

    # -- preview and start -----------------------------------------------------------------------
    @on(Button.Pressed, "#train-actions Button")
    def _action_button(self, event: Button.Pressed) -> None:
        getattr(self, f"action_{event.button.id.removeprefix('do-')}")()

    def _plan(self):
        from medtui.core.stages.builder import build_plan, new_run_id

        config = self.current_config()
        plan = build_plan(config, self.workspace, run_id=new_run_id(self.state.stage))
        self.preview_plan, self.preview_config = plan, config
        return plan

    def action_preview(self) -> None:
        self._revalidate()
        errors = [p for p in self.errors() if p.field]
        text = ""
        if errors:
            text = self.t("train.nopreview") + "\n\n" + "\n".join(str(p) for p in errors)
        else:
            try:
                from medtui.core.stages.launch import preview

                text = preview(self._plan(), self.workspace)
            except MedtuiError as exc:
                text, errors = str(exc), [Problem("", str(exc))]

        def closed(result: str | None) -> None:
            if result == "start":
                self.action_start()

        self.app.push_screen(PreviewScreen(phrase("train.preview.title"), text, self.lang, can_start=not errors),
                             closed)

    def action_start(self) -> None:
        if self.starting:
            return
        self.preflight_problems = []
        self._revalidate()
        if self.errors():
            self.notify(self.t("train.fix"), severity="error")
            return
        config = self.current_config()
        run_id = None
        if self.preview_plan is not None and self.preview_config == config and not self.preview_plan.run_dir.exists():
            run_id = self.preview_plan.run_id
        self.starting = True
        self.notify(self.t("train.checking"), timeout=3)
        self._launch(config, run_id)

    @work(thread=True, exclusive=True, group="start", exit_on_error=False)
    def _launch(self, config: dict[str, Any], run_id: str | None) -> None:
        from medtui.core.stages.launch import PreflightFailed, launch

        try:
            run = launch(config, self.workspace, run_id=run_id)
        except PreflightFailed as exc:
            self.post_message(StartFailed(exc.problems))
        except MedtuiError as exc:
            self.post_message(StartFailed([Problem("", str(exc))]))
        except OSError as exc:
            self.post_message(StartFailed([Problem("", f"could not start: {exc}")]))
        else:
            self.post_message(RunStarted(run.id))

    @on(StartFailed)
    def _start_failed(self, message: StartFailed) -> None:
        self.starting = False
        self.preflight_problems = list(message.problems)
        self._revalidate()
        self.notify(self.t("train.preflight") + "\n" + "\n".join(str(p) for p in message.problems if p.level == "error"),
                    severity="error", timeout=10)

    @on(RunStarted)
    async def _run_started(self, message: RunStarted) -> None:
        self.starting = False
        self.preview_plan = self.preview_config = None
        self.notify(self.t("train.started", run=message.run_id))
        open_run = getattr(self.app, "open_run", None)
        if open_run is not None:
            await open_run(message.run_id)

    def worker_failed(self, group: str, error: BaseException) -> None:
        if group == "start":
            self.starting = False  # Start works again; the app has shown why it failed

    # -- jump to a field ---------------------------------------------------------------------------
    def action_find(self) -> None:
        fields = [(arg.name, arg.help(self.lang).split("\n")[0]) for section in self.form.query(FormSection)
                  for arg in section.args]
        self.app.push_screen(FieldSearch(fields, self.lang), self._jump)

    async def _jump(self, name: str | None) -> None:
        """Open the section holding field ``name``, then focus the field."""
        if not name:
            return
        section = next((s for s in self.form.query(FormSection) if any(a.name == name for a in s.args)), None)
        if section is None:
            return
        if not section.populated:
            await section.populate(self.form.rows_for(section.args))
            self._revalidate()
        section.collapsed = False
        row = self.query_one(f"#row-{name}", FieldRow)

        def focus() -> None:
            row.control.focus()
            self.form.scroll_to_widget(row, animate=False, top=True)

        self.call_after_refresh(focus)

    # -- pickers ---------------------------------------------------------------------------------
    def action_browse(self) -> None:
        row = next((a for a in (self.focused.ancestors_with_self if self.focused else []) if isinstance(a, FieldRow)),
                   None)
        if row is None or not row.pickable:
            self.notify(self.t("train.nopicker"), severity="warning")
            return
        self._gather_picker(row.arg.name, self.state.stage, self.state.values.get("dataset_dir"))

    @on(FieldRow.Browse)
    def _browse(self, event: FieldRow.Browse) -> None:
        self._gather_picker(event.row.arg.name, self.state.stage, self.state.values.get("dataset_dir"))

    @work(thread=True, exclusive=True, group="picker", exit_on_error=False)
    def _gather_picker(self, field: str, stage: str, dataset_dir: str | None) -> None:
        kind, options, error = pickers.choices(self.workspace, field, stage, dataset_dir)
        self.post_message(PickerReady(field, kind, options, error))

    @on(PickerReady)
    def _picker_ready(self, message: PickerReady) -> None:
        if message.error:
            self.notify(message.error, severity="error")
            return
        rows = self.query(f"#row-{message.field}").results(FieldRow)
        row = next(rows, None)
        if row is None:  # the form was rebuilt (another stage or method) while the picker loaded
            return

        def chosen(value: Any) -> None:
            if value is not None:
                row.set_value(",".join(value) if isinstance(value, list) else value)
                row.control.focus()

        if message.kind == "dataset":
            current = [v.strip() for v in str(row.value or "").split(",") if v.strip()]
            title = phrase("train.pick.dataset", stage=self.state.stage)
            self.app.push_screen(MultiChoiceScreen(title, message.options, current, self.lang), chosen)
            return
        options = [(p, p) for p in message.options]
        if message.kind == "output":
            from pathlib import Path

            from medtui.core.lifecycle.prefill import suggest_folder

            model = Path(str(self.state.values.get("model_name_or_path") or "model")).name
            parts = [model, "export"] if message.field == "export_dir" else [model, self.state.method, self.state.stage]
            new = suggest_folder(self.workspace, parts)
            options.insert(0, (self.t("train.new", path=new), new))
        title = phrase(f"train.pick.{message.kind}")
        self.app.push_screen(ChoiceScreen(title, options, self.lang), chosen)

    # -- save and load -----------------------------------------------------------------------------
    def action_save(self) -> None:
        initial = self.config_path or f"configs/{self.state.stage}_{self.state.method}.yaml"
        self.app.push_screen(PathScreen(phrase("train.savepath"), initial, [], self.lang), self._save_chosen)

    def _save_chosen(self, path: str | None) -> None:
        if not path:
            return
        typed, problems = typed_config(self.current_config())
        if problems:
            self.preflight_problems = problems
            self._revalidate()
            self.notify("\n".join(str(p) for p in problems), severity="error")
            return
        self._save(path, typed)

    @work(thread=True, exclusive=True, group="file", exit_on_error=False)
    def _save(self, path: str, config: dict[str, Any]) -> None:
        """Write a standalone llamafactory YAML (see :mod:`medtui.core.stages.saved`)."""
        from medtui.core.stages.saved import standalone

        try:
            saved = standalone(config, self.workspace, path)
            saved.write()
        except MedtuiError as exc:
            self.post_message(FileFailed(str(exc)))
            return
        except OSError as exc:
            self.post_message(FileFailed(f"{self.workspace.resolve(path)}: {exc.strerror or exc}"))
            return
        command = saved.text.splitlines()[1].split("&& ", 1)[-1]
        self.post_message(ConfigSaved(path, command, saved.dropped or {}))

    def action_load(self) -> None:
        self._gather_configs()

    @work(thread=True, exclusive=True, group="file", exit_on_error=False)
    def _gather_configs(self) -> None:
        self.post_message(DialogReady("load", pickers.config_files(self.workspace)))

    @on(DialogReady)
    def _dialog_ready(self, message: DialogReady) -> None:
        initial = self.config_path or ""
        self.app.push_screen(PathScreen(phrase("train.loadpath"), initial, message.suggestions, self.lang),
                             lambda path: self._load(path) if path else None)

    @work(thread=True, exclusive=True, group="file", exit_on_error=False)
    def _load(self, path: str) -> None:
        """A YAML file, or a LlamaBoard output folder (training_args.yaml / llamaboard_config.yaml)."""
        from medtui.core.stages.llamaboard import load_config_source

        try:
            config = load_config_source(self.workspace.resolve(path))
        except MedtuiError as exc:
            self.post_message(FileFailed(str(exc)))
            return
        self.post_message(ConfigLoaded(path, config))

    @on(ConfigLoaded)
    async def _loaded(self, message: ConfigLoaded) -> None:
        self.config_path = message.path
        problems = await self.set_config(message.config)
        self.notify(self.t("train.loaded", path=message.path) +
                    ("".join(f"\n{p}" for p in problems) if problems else ""),
                    severity="warning" if problems else "information")

    @on(ConfigSaved)
    def _saved(self, message: ConfigSaved) -> None:
        self.config_path = message.path
        self.notify(self.t("train.saved", path=message.path, command=message.command), timeout=10)
        if message.dropped:
            self.notify(self.t("train.dropped", keys=", ".join(message.dropped)), severity="warning", timeout=10)

    @on(FileFailed)
    def _file_failed(self, message: FileFailed) -> None:
        self.notify(message.message, severity="error", timeout=10)
