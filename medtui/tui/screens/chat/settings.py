"""The Chat screen's settings column: models, adapters, template, system prompt, generation, Load.

:class:`ChatSettings` only gathers what the user chose (:meth:`source_for`, :meth:`gen_settings`);
the screen loads models and talks to the workers.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, Select

from medtui.core.chat.models import ModelSource, model_sources, resolve_model, suggest_template
from medtui.core.chat.settings import GEN_ARGS, parse_gen
from medtui.core.stages.spec import template_names
from medtui.core.stages.validate import Problem
from medtui.core.workspace import Workspace
from medtui.tui.screens.base import Localised


class ChatSettings(Localised, VerticalScroll):
    """The left column; ``sources`` are the models offered, by key."""

    def __init__(self, workspace: Workspace, lang: str, *, id: str = "chat-settings") -> None:
        super().__init__(id=id)
        self.workspace = workspace
        self.lang = lang
        self.sources: dict[str, ModelSource] = {}

    def compose(self) -> ComposeResult:
        yield self.tr(Label(classes="field"), "chat.model")
        yield self.tr(Select([], id="model-a"), "pick.model")
        yield self.tr(Label(classes="field"), "chat.adapters")
        yield Input(id="adapters", placeholder="saves/…/lora/sft")
        yield self.tr(Label(classes="field"), "chat.template")
        yield Input("default", id="template", suggester=SuggestFromList(template_names(), case_sensitive=False))
        yield self.tr(Label(classes="field"), "chat.system")
        yield Input(id="system")
        yield self.tr(Label(classes="field"), "chat.generation")
        for arg in GEN_ARGS:
            with Horizontal(classes="gen-row"):
                yield self.tr(Label(), f"gen.{arg.name}")
                yield Input(str(arg.default), id=f"gen-{arg.name}",
                            type="integer" if arg.type == "int" else "number", tooltip=arg.help(self.lang))
        with Horizontal(id="load-row"):
            yield self.tr(Button("", id="load", variant="primary"), "chat.load")
            yield self.tr(Button("", id="unload"), "chat.unload")
        yield self.tr(Checkbox("", id="compare"), "chat.compare")
        yield self.tr(Label(classes="field"), "chat.model_b")
        yield self.tr(Select([], id="model-b", disabled=True), "pick.model")

    def relabel(self) -> None:
        for arg in GEN_ARGS:
            self.query_one(f"#gen-{arg.name}", Input).tooltip = arg.help(self.lang)

    # -- models -------------------------------------------------------------------------------
    def refresh_models(self) -> None:
        """Offer finished runs by name, then model folders of the workspace."""
        for source in model_sources(self.workspace):
            self.add_source(source, refresh=False)
        self._refresh_selects()

    def add_source(self, source: ModelSource, *, refresh: bool = True) -> str:
        key = source.key()
        if not source.label:
            source = ModelSource(source.model, source.adapters, source.template,
                                 self.workspace.relative(source.adapters[-1] if source.adapters else source.model),
                                 source.run_id)
        self.sources.setdefault(key, source)
        if refresh:
            self._refresh_selects()
        return key

    def choose(self, source: ModelSource, template: str | None = None) -> None:
        """Select ``source`` as the first model (and its template)."""
        self.query_one("#model-a", Select).value = self.add_source(source)
        self.query_one("#template", Input).value = template or suggest_template(source)

    def _refresh_selects(self) -> None:
        options = [(s.label, key) for key, s in self.sources.items()]
        for select in self.query(Select).results(Select):
            value = select.value
            select.set_options(options)
            if value in self.sources:
                select.value = value

    @on(Select.Changed, "#model-a")
    def _model_a_changed(self, event: Select.Changed) -> None:
        source = self.sources.get(event.value) if isinstance(event.value, str) else None
        if source is not None:
            self.query_one("#template", Input).value = suggest_template(source)

    @on(Checkbox.Changed, "#compare")
    def _compare_changed(self, event: Checkbox.Changed) -> None:
        self.query_one("#model-b", Select).disabled = not event.value

    # -- what the user chose --------------------------------------------------------------------
    def source_for(self, slot: str) -> ModelSource | None:
        """The model of pane ``slot`` (the first one with the extra adapters); MedtuiError if they are bad."""
        value = self.query_one(f"#model-{slot}", Select).value
        source = self.sources.get(value) if isinstance(value, str) else None
        if source is None:
            return None
        extra = [a.strip() for a in self.query_one("#adapters", Input).value.split(",") if a.strip()]
        if slot == "a" and extra:
            source = resolve_model(self.workspace, source.model, [*source.adapters, *extra])
            source = ModelSource(source.model, source.adapters, source.template,
                                 self.sources[value].label + f" + {len(extra)}", source.run_id)
        return source

    @property
    def template(self) -> str:
        return self.query_one("#template", Input).value.strip() or "default"

    @property
    def system(self) -> str | None:
        return self.query_one("#system", Input).value.strip() or None

    def gen_settings(self) -> tuple[dict, list[Problem]]:
        values = {arg.name: self.query_one(f"#gen-{arg.name}", Input).value for arg in GEN_ARGS}
        return parse_gen(values)
