"""Batch predict on a held-out dataset: progress, BLEU-4/ROUGE, and a browser of the predictions; or
evaluate (loss and perplexity, no training). Predict takes sampling settings and an inference backend.

The run is the core predict run (:mod:`medtui.core.predict`) started through
:func:`medtui.core.stages.launch.launch`; its progress comes from ``trainer_log.jsonl`` like training.
Opened with ``run=`` (or on a workspace with an earlier predict run) it shows those results.
"""

from __future__ import annotations

import functools

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Header, Input, Label, ProgressBar, Select, Static

from medtui.core.chat.models import ModelSource, model_sources, suggest_template
from medtui.core.errors import MedtuiError
from medtui.core.predict import (
    METRICS,
    default_output_dir,
    evaluate_config,
    format_eval_metrics,
    predict_config,
    read_eval_metrics,
    read_metrics,
    read_predictions,
)
from medtui.core.runs.follow import RunReader
from medtui.core.runs.records import Run, list_runs, load_run
from medtui.core.workspace import Workspace
from medtui.tui.i18n import Phrase, phrase, register, t
from medtui.tui.keymap import bind
from medtui.tui.messages import Launched
from medtui.tui.screens.base import MedtuiScreen, relabel_select
from medtui.tui.widgets.footer import MedtuiFooter

PAGE = 500  # predictions shown in the table


def _cell(value: str, width: int) -> Text:
    """One line, cut to ``width`` terminal cells (CJK characters take two)."""
    cell = Text(" ".join(value.split()), no_wrap=True)
    cell.truncate(width, overflow="ellipsis")
    return cell

TEXT = register({
    "predict.title": ("Predict", "预测"),
    "predict.model": ("Model", "模型"),
    "predict.dataset": ("Dataset", "数据集"),
    "predict.max_samples": ("Max samples", "最大样本数"),
    "predict.max_new_tokens": ("Max new tokens", "最大生成长度"),
    "predict.close": ("Close", "关闭"),
    "predict.start": ("Predict", "开始预测"),
    "predict.idle": ("Choose a model and a held-out dataset, then press Predict.", "请选择模型和验证数据集,然后点击开始预测。"),
    "predict.running": ("Predicting: {progress}", "预测中:{progress}"),
    "predict.failed": ("Predict failed: {reason}", "预测失败:{reason}"),
    "predict.no_metrics": ("No metrics yet.", "暂无指标。"),
    "predict.prompt": ("Prompt", "提示词"),
    "predict.predict": ("Prediction", "预测"),
    "predict.label": ("Label", "标签"),
    "predict.need": ("Choose a model and a dataset.", "请选择模型和数据集。"),
    "predict.mode": ("Mode", "模式"),
    "predict.mode_predict": ("Predict (BLEU-4, ROUGE)", "预测(BLEU-4、ROUGE)"),
    "predict.mode_evaluate": ("Evaluate (loss, perplexity)", "评估(损失、困惑度)"),
    "predict.temperature": ("Temperature (0: greedy)", "温度(0 为贪心解码)"),
    "predict.top_p": ("Top-p", "Top-p"),
    "predict.backend": ("Backend", "推理引擎"),
    "predict.bad_number": ("Max samples, max new tokens, temperature and top-p must be numbers.",
                           "最大样本数、最大生成长度、温度与 top-p 必须为数字。"),
})


class PredictScreen(MedtuiScreen):
    DEFAULT_CSS = """
    PredictScreen #predict-body { height: 1fr; }
    PredictScreen #predict-form { width: 36; height: 1fr; padding: 0 1; background: $panel; scrollbar-size-vertical: 1; }
    PredictScreen #predict-form .field { margin-top: 1; color: $text-muted; }
    PredictScreen #predict-form Input { width: 100%; height: 1; border: none; padding: 0 1; background: $boost; }
    PredictScreen #predict-form Input:focus { background: $primary 30%; }
    PredictScreen #predict-form SelectCurrent Static#label { text-wrap: nowrap; text-overflow: ellipsis; }
    PredictScreen #predict-form SelectCurrent { border: none; height: 1; padding: 0 1; background: $boost; }
    PredictScreen #predict-form Select:focus > SelectCurrent { background: $primary 30%; }
    PredictScreen #predict-form Button { width: 100%; margin-top: 1; }
    PredictScreen.-evaluate #predict-form .sampling { display: none; }
    PredictScreen.-evaluate #predict-form #max-new-tokens, PredictScreen.-evaluate #label-max-new-tokens { display: none; }
    PredictScreen #predict-main { width: 1fr; height: 1fr; padding: 0 1; }
    PredictScreen #predict-status { height: auto; margin-top: 1; }
    PredictScreen #predict-status.-error { color: $error; }
    PredictScreen #predict-progress { margin: 1 0 0 0; }
    PredictScreen #predict-metrics { height: auto; margin: 1 0; text-style: bold; }
    PredictScreen #predictions { height: 1fr; }
    PredictScreen #prediction-detail { height: auto; max-height: 40%; border-top: solid $primary-darken-2; }
    """
    BINDINGS = [bind("predict.start", "predict"), bind("predict.close", "app.pop_screen")]

    def __init__(self, workspace: Workspace, lang: str = "en", *, run: Run | None = None,
                 poll_interval: float = 0.5) -> None:
        super().__init__(workspace, lang)
        self.run = run
        self.poll_interval = poll_interval
        self.sources: dict[str, ModelSource] = {}
        self.state = "idle"  # idle | starting | running | succeeded | failed
        self.reader: RunReader | None = None
        self.predictions = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="predict-body"):
            with VerticalScroll(id="predict-form"):
                yield self.tr(Label(classes="field"), "predict.mode")
                yield Select(self._modes(), value="predict", allow_blank=False, id="mode")
                yield self.tr(Label(classes="field"), "predict.model")
                yield self.tr(Select([], id="model"), "pick.model")
                yield self.tr(Label(classes="field"), "predict.dataset")
                yield Select([], prompt="—", id="dataset")
                yield self.tr(Label(classes="field"), "predict.max_samples")
                yield Input("100", id="max-samples", type="integer")
                yield self.tr(Label(classes="field", id="label-max-new-tokens"), "predict.max_new_tokens")
                yield Input("128", id="max-new-tokens", type="integer")
                yield self.tr(Label(classes="field sampling"), "predict.temperature")
                yield Input("0", id="temperature", type="number", classes="sampling")
                yield self.tr(Label(classes="field sampling"), "predict.top_p")
                yield Input("0.7", id="top-p", type="number", classes="sampling")
                yield self.tr(Label(classes="field sampling"), "predict.backend")
                yield Select([("huggingface", "huggingface"), ("vllm", "vllm"), ("sglang", "sglang")],
                             value="huggingface", allow_blank=False, id="backend", classes="sampling")
                yield self.tr(Button("", id="start", variant="primary"), "predict.start")
            with Vertical(id="predict-main"):
                yield self.tr(Static(id="predict-status"), "predict.idle")
                yield ProgressBar(total=1, show_eta=False, id="predict-progress")
                yield self.tr(Static(id="predict-metrics"), "predict.no_metrics")
                yield DataTable(id="predictions", cursor_type="row", zebra_stripes=True)
                yield Static("", id="prediction-detail", markup=False)
        yield MedtuiFooter()

    def on_mount(self) -> None:
        for source in model_sources(self.workspace):
            self.sources[source.key()] = source
        self.query_one("#model", Select).set_options([(s.label, k) for k, s in self.sources.items()])
        registry = self.workspace.registry()
        names = [] if registry.error else [n for n in registry.names() if not registry.get(n).get("ranking")]
        self.query_one("#dataset", Select).set_options([(n, n) for n in names])
        table = self.query_one("#predictions", DataTable)
        for key in ("#", "predict.prompt", "predict.predict", "predict.label"):
            table.add_column(t(key, self.lang) if key != "#" else "#", key=key)
        if self.run is None:
            self.run = next((r for r in list_runs(self.workspace.runs_dir)
                             if r.kind in ("predict", "evaluate") and r.status == "succeeded"), None)
        if self.run is not None:
            self._show_results(self.run)

    def _modes(self) -> list[tuple[str, str]]:
        return [(self.t("predict.mode_predict"), "predict"), (self.t("predict.mode_evaluate"), "evaluate")]

    @property
    def mode(self) -> str:
        return str(self.query_one("#mode", Select).value)

    @on(Select.Changed, "#mode")
    def _mode_changed(self) -> None:
        self.set_class(self.mode == "evaluate", "-evaluate")

    def worker_failed(self, group: str, error: BaseException) -> None:
        if group == "predict-start":
            from medtui.tui.errors import one_line

            self.state = "failed"
            self._status(one_line(error), error=True)

    # -- start --------------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def action_predict(self) -> None:
        if self.state in ("starting", "running"):
            return
        model = self.query_one("#model", Select).value
        dataset = self.query_one("#dataset", Select).value
        source = self.sources.get(model) if isinstance(model, str) else None
        if source is None or not isinstance(dataset, str):
            self.notify(t("predict.need", self.lang), severity="warning")
            return
        try:
            max_samples = int(self.query_one("#max-samples", Input).value or 100)
            if self.mode == "evaluate":
                config = evaluate_config(source, dataset, template=suggest_template(source), max_samples=max_samples,
                                         output_dir=default_output_dir(dataset).replace("saves/predict/", "saves/eval/"))
            else:
                config = predict_config(
                    source, dataset, template=suggest_template(source), output_dir=default_output_dir(dataset),
                    max_samples=max_samples, max_new_tokens=int(self.query_one("#max-new-tokens", Input).value or 128),
                    temperature=float(self.query_one("#temperature", Input).value or 0),
                    top_p=float(self.query_one("#top-p", Input).value or 0.7),
                    backend=str(self.query_one("#backend", Select).value))
        except ValueError:
            self.notify(self.t("predict.bad_number"), severity="error")
            return
        except MedtuiError as exc:
            self.notify(str(exc), severity="error")
            return
        self.state = "starting"
        self.run_worker(functools.partial(self._start_thread, config), thread=True, group="predict-start",
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
        self._status(phrase("predict.failed", reason=reason), error=True)

    def _started(self, run: Run) -> None:
        self.run = run
        self.state = "running"
        self.reader = RunReader(run.trainer_log)
        self.query_one("#predict-progress", ProgressBar).update(total=None, progress=0)
        self._status(phrase("predict.running", progress="…"))
        self._timer = self.set_interval(self.poll_interval, self._poll)

    def _poll(self) -> None:
        if self.run is None or self.reader is None:
            return
        self.reader.poll()
        progress = self.reader.progress
        bar = self.query_one("#predict-progress", ProgressBar)
        if progress.total_steps:
            bar.update(total=progress.total_steps, progress=progress.steps)
            self._status(phrase("predict.running", progress=f"{progress.steps}/{progress.total_steps}"))
        fresh = load_run(self.run.run_dir)
        if fresh.is_running:
            return
        self._timer.stop()
        self.run = fresh
        if fresh.status == "succeeded":
            self._show_results(fresh)
        else:
            self.state = "failed"
            self._status(phrase("predict.failed", reason=fresh.reason() or fresh.status), error=True)

    # -- results ------------------------------------------------------------------------------
    def _apply_title(self) -> None:
        self.title = self.t("predict.title")

    def relabel(self) -> None:
        relabel_select(self.query_one("#mode", Select), self._modes())
        table = self.query_one("#predictions", DataTable)
        for key in ("predict.prompt", "predict.predict", "predict.label"):
            table.columns[key].label = Text(self.t(key))
        table.refresh()
        if self.predictions:
            self._show_detail(table.cursor_row or 0)

    def _status(self, message: str | Phrase, *, error: bool = False) -> None:
        status = self.query_one("#predict-status", Static)
        self.show(status, message)
        status.set_class(error, "-error")

    def _show_results(self, run: Run) -> None:
        self.state = "succeeded"
        try:
            metrics = read_metrics(run.output_dir)
            evaluated = read_eval_metrics(run.output_dir)
        except MedtuiError as exc:
            self._status(str(exc), error=True)
            return
        self.query_one("#predict-progress", ProgressBar).update(total=1, progress=1)
        self._status(self.workspace.relative(run.output_dir))
        shown = "   ".join(f"{label} {metrics[key]:.2f}" for key, label in METRICS if key in metrics)
        if evaluated and not shown:
            shown = format_eval_metrics(evaluated)
        metrics_view = self.query_one("#predict-metrics", Static)
        if shown:
            self.show(metrics_view, shown)
        else:
            self.tr(metrics_view, "predict.no_metrics")
        table = self.query_one("#predictions", DataTable)
        table.clear()
        self.predictions = read_predictions(run.output_dir, 0, PAGE)
        for pred in self.predictions:
            table.add_row(str(pred.index + 1), _cell(pred.prompt, 30), _cell(pred.predict, 24),
                          _cell(pred.label, 24), key=str(pred.index))
        if self.predictions:
            self._show_detail(0)

    @on(DataTable.RowHighlighted, "#predictions")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self._show_detail(int(event.row_key.value))

    def _show_detail(self, index: int) -> None:
        if not 0 <= index < len(self.predictions):
            return
        pred = self.predictions[index]
        self.query_one("#prediction-detail", Static).update(
            f"{self.t('predict.prompt')}: {pred.prompt}\n{self.t('predict.predict')}: {pred.predict}\n"
            f"{self.t('predict.label')}: {pred.label}")
