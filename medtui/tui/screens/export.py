"""Merge LoRA adapters into their base and export the result, then verify it loads and generates.

The export is the core ``export`` stage (``llamafactory-cli export``) started through
:func:`medtui.core.stages.launch.launch`, so it is a run like any other: it survives medtui and shows
in ``medtui runs``. The screen tails the run's log; when it succeeds, :func:`verify_model` loads
the export in a chat worker and generates a few tokens.
"""

from __future__ import annotations

import functools
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar, RichLog, Select, Static

from medtui.core.chat.models import ModelSource, is_adapter_dir, model_sources, suggest_template
from medtui.core.chat.verify import VerifyResult, verify_model
from medtui.core.errors import MedtuiError
from medtui.core.runs.follow import TextTail
from medtui.core.runs.records import Run, load_run
from medtui.core.stages.spec import ARG_BY_NAME, template_names
from medtui.core.workspace import Workspace
from medtui.tui.i18n import Phrase, phrase, register, t
from medtui.tui.keymap import bind
from medtui.tui.messages import Launched
from medtui.tui.screens.base import MedtuiScreen
from medtui.tui.widgets.footer import MedtuiFooter

TEXT = register({
    "export.title": ("Export", "导出"),
    "export.base": ("Model: a base, or a LoRA run", "模型:基础模型或 LoRA 运行"),
    "export.adapters": ("LoRA adapters to merge (in order)", "要合并的 LoRA 适配器(按顺序)"),
    "export.remove": ("Remove", "移除"),
    "export.out": ("Export folder", "导出目录"),
    "export.size": ("Shard size (GB)", "分片大小(GB)"),
    "export.device": ("Device", "设备"),
    "export.legacy": ("Legacy format (.bin)", "旧格式(.bin)"),
    "export.template": ("Template", "对话模板"),
    "export.start": ("Export", "导出"),
    "export.verify": ("Verify", "验证"),
    "export.idle": ("Choose a base model and the adapters to merge.", "请选择基础模型和要合并的适配器。"),
    "export.running": ("Exporting to {out} …", "正在导出到 {out} …"),
    "export.succeeded": ("Exported to {out}.", "已导出到 {out}。"),
    "export.failed": ("Export failed: {reason}", "导出失败:{reason}"),
    "export.verifying": ("Verifying: loading {out} in a worker and generating a few tokens …", "正在验证:在子进程中加载 {out} 并生成几个 token …"),
    "export.verified": ("Verified: {message}", "验证通过:{message}"),
    "export.need_base": ("Choose a base model.", "请选择基础模型。"),
    "export.need_out": ("Give an export folder.", "请填写导出目录。"),
})


class ExportScreen(MedtuiScreen):
    NAME = "export"
    DEFAULT_CSS = """
    ExportScreen #export-body { height: 1fr; }
    ExportScreen #export-form { width: 42; height: 1fr; padding: 0 1; background: $panel; scrollbar-size-vertical: 1; }
    ExportScreen #export-form .field { margin-top: 1; color: $text-muted; }
    ExportScreen #export-form Input { width: 100%; height: 1; border: none; padding: 0 1; background: $boost; }
    ExportScreen #export-form Input:focus { background: $primary 30%; }
    ExportScreen #export-form SelectCurrent Static#label { text-wrap: nowrap; text-overflow: ellipsis; }
    ExportScreen #export-form SelectCurrent { border: none; height: 1; padding: 0 1; background: $boost; }
    ExportScreen #export-form Select:focus > SelectCurrent { background: $primary 30%; }
    ExportScreen #export-form Checkbox { margin-top: 1; border: none; padding: 0; background: $panel; }
    ExportScreen #adapter-list { height: auto; min-height: 1; padding: 0 1; color: $text; }
    ExportScreen .row { height: auto; margin-top: 1; }
    ExportScreen .row Button { width: 1fr; min-width: 8; }
    ExportScreen #adapter-row Select { width: 1fr; }
    ExportScreen #adapter-row Button { width: auto; min-width: 8; }
    ExportScreen #export-main { width: 1fr; height: 1fr; padding: 0 1; }
    ExportScreen #export-status { height: auto; margin-top: 1; }
    ExportScreen #export-status.-error { color: $error; }
    ExportScreen #export-status.-ok { color: $success; }
    ExportScreen #export-progress { margin: 1 0; }
    ExportScreen #export-log { height: 1fr; border: round $primary-darken-2; }
    """
    BINDINGS = [
        bind("export.start", "export"),
        bind("export.verify", "verify"),
    ]

    class Verified(Message):
        def __init__(self, result: VerifyResult) -> None:
            super().__init__()
            self.result = result

    def __init__(self, workspace: Workspace, lang: str = "en", *, source: ModelSource | None = None,
                 poll_interval: float = 0.5) -> None:
        super().__init__(workspace, lang)
        self.initial = source
        self.poll_interval = poll_interval
        self.sources: dict[str, ModelSource] = {}
        self.adapter_dirs: dict[str, Path] = {}
        self.base: str | None = None
        self.adapters: list[str] = []
        self.run: Run | None = None
        self.state = "idle"  # idle | starting | running | succeeded | failed | verifying | verified
        self._tails: list[TextTail] = []

    def compose(self) -> ComposeResult:
        size, device, legacy = ARG_BY_NAME["export_size"], ARG_BY_NAME["export_device"], \
            ARG_BY_NAME["export_legacy_format"]
        yield self.navbar()
        with Horizontal(id="export-body"):
            with VerticalScroll(id="export-form"):
                yield self.tr(Label(classes="field"), "export.base")
                yield self.tr(Select([], id="source"), "pick.model")
                yield self.tr(Label(classes="field"), "export.adapters")
                yield Static("—", id="adapter-list")
                with Horizontal(id="adapter-row", classes="row"):
                    yield Select([], prompt="+", id="adapter-pick")
                    yield self.tr(Button("", id="adapter-remove"), "export.remove")
                yield self.tr(Label(classes="field"), "export.out")
                yield Input(id="out", placeholder="saves/export/…", tooltip=ARG_BY_NAME["export_dir"].help(self.lang))
                yield self.tr(Label(classes="field"), "export.size")
                yield Input(str(size.default), id="size", type="integer", tooltip=size.help(self.lang))
                yield self.tr(Label(classes="field"), "export.device")
                yield Select([(str(c), c) for c in device.choices], value=device.default, allow_blank=False,
                             id="device", tooltip=device.help(self.lang))
                yield self.tr(Checkbox("", bool(legacy.default), id="legacy", tooltip=legacy.help(self.lang)),
                              "export.legacy")
                yield self.tr(Label(classes="field"), "export.template")
                yield Input("default", id="template", suggester=SuggestFromList(template_names(), case_sensitive=False))
                with Horizontal(classes="row"):
                    yield self.tr(Button("", id="start", variant="primary"), "export.start")
                    yield self.tr(Button("", id="verify"), "export.verify")
            with Vertical(id="export-main"):
                yield self.tr(Static(id="export-status"), "export.idle")
                yield ProgressBar(total=1, show_eta=False, id="export-progress")
                yield RichLog(id="export-log", wrap=True, markup=False, max_lines=2000)
        yield MedtuiFooter()

    def on_mount(self) -> None:
        for source in model_sources(self.workspace):
            self.sources[source.key()] = source
        for source in self.sources.values():
            for adapter in source.adapters:
                self.adapter_dirs.setdefault(adapter, Path(adapter))
        for folder in self.workspace.model_dirs():
            if is_adapter_dir(folder) and not (folder / "value_head.safetensors").exists():
                self.adapter_dirs.setdefault(str(folder), folder)
        if self.initial is not None:
            self.sources.setdefault(self.initial.key(), self.initial)
        self.query_one("#source", Select).set_options([(s.label, k) for k, s in self.sources.items()])
        self.query_one("#adapter-pick", Select).set_options(
            [(self.workspace.relative(p), key) for key, p in self.adapter_dirs.items()])
        if self.initial is not None:
            self.query_one("#source", Select).value = self.initial.key()
            self._use_source(self.initial)

    # -- form ---------------------------------------------------------------------------------
    @on(Select.Changed, "#source")
    def _source_changed(self, event: Select.Changed) -> None:
        source = self.sources.get(event.value) if isinstance(event.value, str) else None
        if source is not None:
            self._use_source(source)

    def _use_source(self, source: ModelSource) -> None:
        self.base = source.model
        self.adapters = list(source.adapters)
        self.query_one("#template", Input).value = suggest_template(source)
        self._show_adapters()
        self.query_one("#out", Input).value = self._default_out()

    @on(Select.Changed, "#adapter-pick")
    def _adapter_picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value not in self.adapters:
            self.adapters.append(event.value)
            self._show_adapters()
            self.query_one("#out", Input).value = self._default_out()

    @on(Button.Pressed, "#adapter-remove")
    def _remove_adapter(self) -> None:
        if self.adapters:
            self.adapters.pop()
            self._show_adapters()

    def _show_adapters(self) -> None:
        shown = "\n".join(f"{i}. {self.workspace.relative(a)}" for i, a in enumerate(self.adapters, 1))
        self.query_one("#adapter-list", Static).update(shown or "—")

    def _default_out(self) -> str:
        name = Path(self.adapters[-1] if self.adapters else self.base or "model").name or "model"
        base = f"saves/export/{name}-merged"
        candidate, n = base, 2
        while self.workspace.resolve(candidate).exists():
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def config(self) -> dict:
        """The export stage config from the form; MedtuiError names a missing field."""
        if not self.base:
            raise MedtuiError(t("export.need_base", self.lang))
        out = self.query_one("#out", Input).value.strip()
        if not out:
            raise MedtuiError(t("export.need_out", self.lang))
        config = {
            "stage": "export",
            "model_name_or_path": self.base,
            "template": self.query_one("#template", Input).value.strip() or "default",
            "export_dir": out,
            "export_size": self.query_one("#size", Input).value.strip() or ARG_BY_NAME["export_size"].default,
            "export_device": self.query_one("#device", Select).value,
            "export_legacy_format": self.query_one("#legacy", Checkbox).value,
        }
        if self.adapters:
            config["adapter_name_or_path"] = ",".join(self.adapters)
            config["finetuning_type"] = "lora"
        return config

    def _status(self, message: str | Phrase, kind: str = "") -> None:
        status = self.query_one("#export-status", Static)
        self.show(status, message)
        status.set_class(kind == "error", "-error")
        status.set_class(kind == "ok", "-ok")

    def worker_failed(self, group: str, error: BaseException) -> None:
        if group in ("export-start", "export-verify"):
            from medtui.tui.errors import one_line

            self.state = "failed"
            self._status(one_line(error), "error")

    # -- export -------------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def action_export(self) -> None:
        if self.state in ("starting", "running", "verifying"):
            return
        try:
            config = self.config()
        except MedtuiError as exc:
            self.notify(str(exc), severity="error")
            return
        self.state = "starting"
        self.query_one("#export-log", RichLog).clear()
        self.run_worker(functools.partial(self._start_thread, config), thread=True, group="export-start",
                        exit_on_error=False)

    def _start_thread(self, config: dict) -> None:
        from medtui.core.stages.launch import try_launch

        run, reason = try_launch(config, self.workspace)
        self.post_message(Launched(run, reason))

    @on(Launched)
    def _launched(self, message: Launched) -> None:
        if message.run is None:
            self._start_failed(message.reason)
        else:
            self._started(message.run)

    def _start_failed(self, reason: str) -> None:
        self.state = "failed"
        self._status(phrase("export.failed", reason=reason), "error")
        self.query_one("#export-log", RichLog).write(reason)

    def _started(self, run: Run) -> None:
        self.run = run
        self.state = "running"
        self._tails = [TextTail(run.stdout_path), TextTail(run.stderr_path)]
        self._status(phrase("export.running", out=self.workspace.relative(run.output_dir)))
        self.query_one("#export-progress", ProgressBar).update(total=None, progress=0)
        self._poll_timer = self.set_interval(self.poll_interval, self._poll)

    def _poll(self) -> None:
        if self.run is None:
            return
        log = self.query_one("#export-log", RichLog)
        for tail in self._tails:
            for line in tail.read_new():
                log.write(line)
        fresh = load_run(self.run.run_dir)
        if fresh.is_running:
            return
        for tail in self._tails:
            for line in tail.read_new():
                log.write(line)
        self._poll_timer.stop()
        self.run = fresh
        out = self.workspace.relative(fresh.output_dir)
        if fresh.status == "succeeded":
            self.state = "succeeded"
            self.query_one("#export-progress", ProgressBar).update(total=1, progress=1)
            self._status(phrase("export.succeeded", out=out), "ok")
            self.action_verify()
        else:
            self.state = "failed"
            self.query_one("#export-progress", ProgressBar).update(total=1, progress=0)
            self._status(phrase("export.failed", reason=fresh.reason() or fresh.status), "error")

    # -- verify -------------------------------------------------------------------------------
    @on(Button.Pressed, "#verify")
    def action_verify(self) -> None:
        if self.state in ("starting", "running", "verifying"):
            return
        out = self.workspace.resolve(self.query_one("#out", Input).value.strip() or ".")
        if not (out / "config.json").is_file():
            self.notify(t("export.failed", self.lang, reason=f"no exported model in {out}"), severity="error")
            return
        self.state = "verifying"
        self._status(phrase("export.verifying", out=self.workspace.relative(out)))
        template = self.query_one("#template", Input).value.strip() or "default"
        self.run_worker(functools.partial(self._verify_thread, str(out), template), thread=True,
                        group="export-verify", exit_on_error=False)

    def _verify_thread(self, out: str, template: str) -> None:
        self.post_message(self.Verified(verify_model(out, template=template)))

    @on(Verified)
    def _verified(self, message: Verified) -> None:
        result = message.result
        self.state = "verified" if result.ok else "failed"
        if result.ok:
            self._status(phrase("export.verified", message=result.message), "ok")
        else:
            self._status(result.message, "error")
        self.query_one("#export-log", RichLog).write(result.message + (f": {result.text!r}" if result.text else ""))
