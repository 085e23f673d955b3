"""The Datasets screen's Render tab: a record as the model sees it.

The record goes through llamafactory's template and the stage's processor in a render worker
(:class:`~medtui.core.data.render.RenderSession`, started on the first render and kept for the
next ones), so the UI process imports nothing heavy. Trained tokens are bold green, masked ones
dim, tokens past ``cutoff_len`` struck through in red after a ``✂``; each part's header gives its
token counts. Pairwise data shows chosen and rejected side by side.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Select, Static

from medtui.core.data.listing import DatasetRow
from medtui.core.data.render import CUT_MARK, Rendered, RenderSession, part_label, render_request, summary, visible
from medtui.core.errors import MedtuiError
from medtui.core.stages.spec import template_names
from medtui.tui.i18n import MARKS, t
from medtui.tui.screens.datasets.panes import Catalog, DatasetPane, model_options

TRAINED, MASKED, CUT = "bold green", "dim", "strike red"
STAGES = ("sft", "rm", "dpo", "kto", "pt")


class RenderDone(Message):
    def __init__(self, key: tuple, rendered: Rendered | None = None, error: str | None = None) -> None:
        super().__init__()
        self.key, self.rendered, self.error = key, rendered, error


def sequence_text(seq: dict[str, Any], lang: str = "en") -> Text:
    """One sequence: a header per part, then its text styled trained / masked / cut."""
    text = Text()
    for index, part in enumerate(seq["parts"]):
        text.append(f"── {part_label(part)} ──\n", style="bold")
        cut_shown = False
        for run in (r for r in seq["runs"] if r["part"] == index):
            if run["cut"] and not cut_shown:
                text.append(f" {CUT_MARK} ", style="bold red")
                cut_shown = True
            style = CUT if run["cut"] else TRAINED if run["trained"] else MASKED
            text.append(visible(run["text"]), style=style)
        text.append("\n")
    if not seq.get("aligned", True):
        text.append(t("datasets.render_unaligned", lang) + "\n", style="yellow")
    return text


class RenderPane(DatasetPane):
    """Controls (model, template, record, cutoff, stage, masking) and the rendered record."""

    DEFAULT_CSS = """
    RenderPane > Vertical { height: 1fr; }
    RenderPane .controls { height: auto; }
    RenderPane #render-model { width: 1fr; }
    RenderPane SelectCurrent Static#label { text-wrap: nowrap; text-overflow: ellipsis; }
    RenderPane #render-template { width: 16; }
    RenderPane #render-index { width: 8; }
    RenderPane #render-cutoff { width: 9; }
    RenderPane #render-stage { width: 10; }
    RenderPane Checkbox { width: auto; }
    RenderPane #render-head { height: auto; max-height: 5; padding: 0 1; }
    RenderPane #render-body { height: 1fr; }
    RenderPane #render-body VerticalScroll { width: 1fr; height: 1fr; padding: 0 1; }
    RenderPane #render-right { display: none; border-left: solid $primary-darken-2; }
    RenderPane.-pairwise #render-right { display: block; }
    """

    def __init__(self, catalog: Catalog, lang: str) -> None:
        super().__init__("datasets.render", catalog, lang, id="tab-render")
        self.models = model_options(catalog.workspace)
        self.dataset: str | None = None
        self.dataset_dir = catalog.workspace.registry_path.parent  # where dataset_info.json's files are
        self.session = RenderSession()
        self.rendered: Rendered | None = None
        self.pending: tuple | None = None
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical():
            with Horizontal(classes="controls"):
                yield self.tr(Select(self.models, id="render-model", compact=True,
                                     value=self.models[0][1] if self.models else Select.NULL), "datasets.no_model_short")
                yield self.tr(Input("default", id="render-template", compact=True,
                                    suggester=SuggestFromList(template_names(), case_sensitive=False)),
                              "datasets.template")
                yield Input("0", placeholder="#", id="render-index", type="integer", compact=True)
                yield self.tr(Input("2048", id="render-cutoff", type="integer", compact=True), "datasets.cutoff")
                yield self.tr(Button("", id="render-run", variant="primary", compact=True), "datasets.render_run")
            with Horizontal(classes="controls"):
                yield Select([(s, s) for s in STAGES], value="sft", allow_blank=False, id="render-stage", compact=True)
                yield Checkbox("train_on_prompt", id="render-train-on-prompt", compact=True)
                yield Checkbox("mask_history", id="render-mask-history", compact=True)
            yield self.tr(Static(id="render-head"), "datasets.render_hint")
            with Horizontal(id="render-body"):
                with VerticalScroll(id="render-left"):
                    yield Static("", id="render-seq-0")
                with VerticalScroll(id="render-right"):
                    yield Static("", id="render-seq-1")

    def _t(self, key: str, **kw: Any) -> str:
        return self.t("datasets." + key, **kw)

    def on_unmount(self) -> None:
        self._cancel.set()
        self.session.close()

    # -- input --------------------------------------------------------------------------------
    def show(self, row: DatasetRow | None) -> None:
        """The dataset selected in the list; rendering waits for the Render button (``t``, or Enter in a field)."""
        super().show(row)
        name = row.name if row is not None and row.path is not None and row.exists else None
        if name == self.dataset:
            return
        self.dataset = name
        entry = (row.entry if row is not None else None) or {}
        stage = "rm" if entry.get("ranking") else "kto" if (entry.get("columns") or {}).get("kto_tag") else "sft"
        if self.is_mounted:
            self.query_one("#render-stage", Select).value = stage
            self.query_one("#render-index", Input).value = "0"

    def request(self) -> dict[str, Any]:
        """The render request of the controls; raises MedtuiError on bad input."""
        if not self.dataset or self.dataset_dir is None:
            raise MedtuiError(self._t("render_no_dataset"))
        model = self.query_one("#render-model", Select).value
        if model is Select.NULL:
            raise MedtuiError(self._t("render_no_model"))
        try:
            index = int(self.query_one("#render-index", Input).value or 0)
            cutoff = int(self.query_one("#render-cutoff", Input).value or 2048)
        except ValueError:
            raise MedtuiError(self._t("render_bad_number")) from None
        template = self.query_one("#render-template", Input).value.strip() or "default"
        names = template_names()
        if names and template not in names:
            raise MedtuiError(self._t("render_bad_template", template=template))
        return render_request(dataset=self.dataset, dataset_dir=self.dataset_dir, model=str(model), template=template,
                              index=index, cutoff_len=cutoff, stage=str(self.query_one("#render-stage", Select).value),
                              train_on_prompt=self.query_one("#render-train-on-prompt", Checkbox).value,
                              mask_history=self.query_one("#render-mask-history", Checkbox).value)

    @on(Button.Pressed, "#render-run")
    @on(Input.Submitted, "#render-index, #render-cutoff, #render-template")
    def render_now(self) -> None:
        try:
            request = self.request()
        except MedtuiError as exc:
            self._head(Text(str(exc), style="red"))
            return
        key = tuple(sorted((k, str(v)) for k, v in request.items()))
        self.pending = key
        self._head(Text(self._t("render_working"), style="italic"))
        self._start_render(key, request)

    def step(self, delta: int) -> None:
        """The previous or next record."""
        box = self.query_one("#render-index", Input)
        try:
            box.value = str(max(0, int(box.value or 0) + delta))
        except ValueError:
            box.value = "0"
        self.render_now()

    @work(thread=True, exclusive=True, group="datasets-render", exit_on_error=False)
    def _start_render(self, key: tuple, request: dict[str, Any]) -> None:
        try:
            rendered = self.session.render(request, cancel=self._cancel)
            if rendered is not None:
                self.post_message(RenderDone(key, rendered))
        except MedtuiError as exc:
            self.post_message(RenderDone(key, error=str(exc)))

    # -- output -------------------------------------------------------------------------------
    @on(RenderDone)
    def _done(self, message: RenderDone) -> None:
        message.stop()
        if message.key != self.pending:
            return  # the user asked for another record meanwhile
        if message.error or message.rendered is None:
            self._head(Text(message.error or "?", style="red"))
            return
        rendered = self.rendered = message.rendered
        head = Text(summary(rendered) + "\n", style="bold")
        head.append(self._t("trained"), style=TRAINED).append(" · ").append(self._t("masked"), style=MASKED)
        head.append(" · ").append(f"{CUT_MARK} " + self._t("cut"), style=CUT).append(" · ↵ " + self._t("newline"))
        for warning in rendered.warnings:
            head.append("\n⚠ " + warning, style="yellow")
        self._head(head)
        self.set_class(rendered.pairwise, "-pairwise")
        for i in range(2):
            seqs = rendered.sequences
            title = Text(f"{seqs[i]['name'].upper()}\n", style="bold reverse") if rendered.pairwise and i < len(seqs) \
                else Text()
            body = sequence_text(seqs[i], self.lang) if i < len(seqs) else Text()
            self.query_one(f"#render-seq-{i}", Static).update(title + body)

    def _head(self, text: Text) -> None:
        self.show_text(self.query_one("#render-head", Static), text)

    def show_text(self, widget: Static, text: Text) -> None:
        """Replace the hint (which follows language switches) with ``text``."""
        widget.__dict__.get(MARKS, {}).pop("content", None)
        widget.update(text)

    def failed(self, reason: str) -> None:
        self._head(Text(reason, style="red"))
