"""Chat with a model, or compare two side by side; the models run in worker processes.

Thread workers drive :class:`medtui.core.chat.client.ChatClient` and never touch widgets: they
post ``Loaded``, ``Delta``, ``Done`` and ``Failed`` messages, and the handlers here own every
state change (harlequin's pattern). A crashed worker (killed, out of memory) becomes a message in
the pane; Ctrl+R starts a fresh worker with the same model. Nothing here imports torch.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Footer, Header, Input, Label, Select

from medtui.core.chat import transcript as transcripts
from medtui.core.chat.client import ChatClient, WorkerError
from medtui.core.chat.models import ModelSource, model_sources, resolve_model, suggest_template
from medtui.core.chat.settings import GEN_ARGS, parse_gen
from medtui.core.errors import MedtuiError
from medtui.core.stages.spec import TEMPLATES
from medtui.core.workspace import Workspace
from medtui.tui.i18n import localise_bindings, t
from medtui.tui.screens.chat import text as _text  # noqa: F401  (registers the screen's strings)
from medtui.tui.screens.chat.pane import ChatPane

SLOTS = ("a", "b")


class PromptInput(Input):
    """The message box; ↑/↓ walk through the prompts sent before."""

    BINDINGS = [Binding("up", "history(-1)", show=False), Binding("down", "history(1)", show=False)]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history: list[str] = []
        self._pos = 0

    def remember(self, prompt: str) -> None:
        if not self.history or self.history[-1] != prompt:
            self.history.append(prompt)
        self._pos = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + step))
        self.value = self.history[self._pos] if self._pos < len(self.history) else ""
        self.cursor_position = len(self.value)


class ChatScreen(Screen):
    DEFAULT_CSS = """
    ChatScreen #chat-body { height: 1fr; }
    ChatScreen #chat-settings { width: 34; height: 1fr; padding: 0 1; background: $panel;
                                scrollbar-size-vertical: 1; }
    ChatScreen #chat-settings .field { margin-top: 1; color: $text-muted; }
    ChatScreen #chat-settings Input { width: 100%; height: 1; border: none; padding: 0 1; background: $boost; }
    ChatScreen #chat-settings Input:focus { background: $primary 30%; }
    ChatScreen #chat-settings Select { width: 100%; }
    ChatScreen #chat-settings SelectCurrent Static#label { text-wrap: nowrap; text-overflow: ellipsis; }
    ChatScreen #chat-settings SelectCurrent { border: none; height: 1; padding: 0 1; background: $boost; }
    ChatScreen #chat-settings Select:focus > SelectCurrent { background: $primary 30%; }
    ChatScreen #chat-settings Checkbox { margin-top: 1; border: none; padding: 0; background: $panel; }
    ChatScreen .gen-row { height: 1; }
    ChatScreen .gen-row Label { width: 19; color: $text-muted; }
    ChatScreen .gen-row Input { width: 1fr; }
    ChatScreen #load-row { height: auto; margin-top: 1; }
    ChatScreen #load-row Button { width: 1fr; min-width: 8; }
    ChatScreen #chat-main { width: 1fr; height: 1fr; }
    ChatScreen #panes { height: 1fr; }
    ChatScreen #pane-b { display: none; }
    ChatScreen.-compare #pane-b { display: block; }
    ChatScreen #prompt { height: 3; }
    """
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="chat.stop"),
        Binding("ctrl+l", "clear", "Clear", id="chat.clear"),
        Binding("ctrl+s", "save", "Save", id="chat.save"),
        Binding("ctrl+r", "reload", "Reload", id="chat.reload"),
    ]

    # -- messages posted by the thread workers -----------------------------------------------
    class Loaded(Message):
        def __init__(self, slot: str, info: dict) -> None:
            super().__init__()
            self.slot, self.info = slot, info

    class Unloaded(Message):
        def __init__(self, slot: str) -> None:
            super().__init__()
            self.slot = slot

    class Delta(Message):
        def __init__(self, slot: str, fragment: str) -> None:
            super().__init__()
            self.slot, self.fragment = slot, fragment

    class Done(Message):
        def __init__(self, slot: str, info: dict) -> None:
            super().__init__()
            self.slot, self.info = slot, info

    class Failed(Message):
        def __init__(self, slot: str, message: str, kind: str) -> None:
            super().__init__()
            self.slot, self.message, self.kind = slot, message, kind

    def __init__(self, workspace: Workspace, lang: str = "en", model: ModelSource | str | None = None, *,
                 template: str | None = None, autoload: bool = True,
                 client_factory: Callable[[], ChatClient] = ChatClient, transcripts_dir: Path | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.lang = lang
        self.initial_model = model
        self.initial_template = template
        self.autoload = autoload and model is not None
        self.client_factory = client_factory
        self.transcripts_dir = transcripts_dir or workspace.root / "chats"
        self.sources: dict[str, ModelSource] = {}
        self.compare = False
        #: Extra generation keys sent with every message (e.g. ``min_new_tokens`` on the HF backend).
        self.gen_extra: dict = {}
        self._panes: dict[str, ChatPane] = {}
        localise_bindings(self, lang)

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        def tx(key: str, **fmt) -> str:
            return t(key, self.lang, **fmt)

        yield Header()
        with Horizontal(id="chat-body"):
            with VerticalScroll(id="chat-settings"):
                yield Label(tx("chat.model"), classes="field")
                yield Select([], prompt=tx("pick.model"), id="model-a")
                yield Label(tx("chat.adapters"), classes="field")
                yield Input(id="adapters", placeholder="saves/…/lora/sft")
                yield Label(tx("chat.template"), classes="field")
                yield Input("default", id="template", suggester=SuggestFromList(TEMPLATES, case_sensitive=False))
                yield Label(tx("chat.system"), classes="field")
                yield Input(id="system")
                yield Label(tx("chat.generation"), classes="field")
                for arg in GEN_ARGS:
                    with Horizontal(classes="gen-row"):
                        yield Label(tx(f"gen.{arg.name}"))
                        yield Input(str(arg.default), id=f"gen-{arg.name}",
                                    type="integer" if arg.type == "int" else "number", tooltip=arg.help(self.lang))
                with Horizontal(id="load-row"):
                    yield Button(tx("chat.load"), id="load", variant="primary")
                    yield Button(tx("chat.unload"), id="unload")
                yield Checkbox(tx("chat.compare"), id="compare")
                yield Label(tx("chat.model_b"), classes="field")
                yield Select([], prompt=tx("pick.model"), id="model-b", disabled=True)
            with Vertical(id="chat-main"):
                with Horizontal(id="panes"):
                    yield ChatPane("a", self.lang, id="pane-a")
                    yield ChatPane("b", self.lang, id="pane-b")
                yield PromptInput(id="prompt", placeholder=tx("chat.prompt"))
        yield Footer()

    def on_mount(self) -> None:
        self.title = t("chat.title", self.lang)
        self._panes = {slot: self.query_one(f"#pane-{slot}", ChatPane) for slot in SLOTS}
        self.refresh_models()
        initial = self.initial_model
        if isinstance(initial, str):
            try:
                initial = resolve_model(self.workspace, initial)
            except MedtuiError as exc:
                self.notify(str(exc), severity="error")
                initial = None
        if isinstance(initial, ModelSource):
            key = self._add_source(initial)
            self.query_one("#model-a", Select).value = key
            self.query_one("#template", Input).value = self.initial_template or suggest_template(initial)
            if self.autoload:
                self.call_after_refresh(self.action_load)
        self.query_one("#prompt", PromptInput).focus()

    def on_unmount(self) -> None:
        for pane in self._panes.values():
            if pane.client is not None:
                pane.client.close(timeout=1.0)
                pane.client = None

    def refresh_models(self) -> None:
        """Offer finished runs by name, then model folders of the workspace."""
        for source in model_sources(self.workspace):
            self._add_source(source, refresh=False)
        self._refresh_selects()

    def _add_source(self, source: ModelSource, *, refresh: bool = True) -> str:
        key = source.key()
        if not source.label:
            source = ModelSource(source.model, source.adapters, source.template,
                                 self.workspace.relative(source.adapters[-1] if source.adapters else source.model),
                                 source.run_id)
        self.sources.setdefault(key, source)
        if refresh:
            self._refresh_selects()
        return key

    def _refresh_selects(self) -> None:
        options = [(s.label, key) for key, s in self.sources.items()]
        for select in self.query(Select).results(Select):
            value = select.value
            select.set_options(options)
            if value in self.sources:
                select.value = value

    def panes(self) -> list[ChatPane]:
        return list(self._panes.values())

    def pane(self, slot: str) -> ChatPane:
        return self._panes[slot]

    def active_panes(self) -> list[ChatPane]:
        return self.panes() if self.compare else [self.pane("a")]

    # -- settings -----------------------------------------------------------------------------
    @on(Select.Changed, "#model-a")
    def _model_a_changed(self, event: Select.Changed) -> None:
        source = self.sources.get(event.value) if isinstance(event.value, str) else None
        if source is not None:
            self.query_one("#template", Input).value = suggest_template(source)

    @on(Checkbox.Changed, "#compare")
    def _compare_changed(self, event: Checkbox.Changed) -> None:
        self.compare = event.value
        self.set_class(event.value, "-compare")
        self.query_one("#model-b", Select).disabled = not event.value

    def _source_for(self, slot: str) -> ModelSource | None:
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

    def gen_settings(self) -> dict | None:
        values = {arg.name: self.query_one(f"#gen-{arg.name}", Input).value for arg in GEN_ARGS}
        gen, problems = parse_gen(values)
        for problem in problems:
            self.notify(t("chat.bad_setting", self.lang, field=t(f"gen.{problem.field}", self.lang),
                             message=problem.message), severity="error")
        return None if problems else gen

    # -- load / unload ------------------------------------------------------------------------
    @on(Button.Pressed, "#load")
    def action_load(self) -> None:
        template = self.query_one("#template", Input).value.strip() or "default"
        wanted: list[tuple[ChatPane, ModelSource]] = []
        for pane in self.active_panes():
            try:
                source = self._source_for(pane.slot)
            except MedtuiError as exc:
                self.notify(str(exc), severity="error")
                return
            if source is None:
                self.notify(t("chat.need_model_b" if pane.slot == "b" else "chat.need_model", self.lang),
                            severity="warning")
                return
            wanted.append((pane, source))
        for pane, source in wanted:
            if pane.state == "generating" or pane.state == "loading":
                continue
            same = (pane.client is not None and pane.client.alive and pane.client.loaded is not None
                    and pane.source == source and pane.template == template)
            if same:
                continue
            self._start_load(pane, source, template)

    def _start_load(self, pane: ChatPane, source: ModelSource, template: str, *, reload: bool = False) -> None:
        pane.source, pane.template, pane.state = source, template, "loading"
        pane.transcript.model = source.label
        pane.set_status(t("chat.loading", self.lang, model=source.label))
        if pane.client is None:
            pane.client = self.client_factory()
        self.run_worker(functools.partial(self._load_thread, pane.slot, pane.client, source, template, reload),
                        thread=True, group=f"load-{pane.slot}", exit_on_error=False)

    def _load_thread(self, slot: str, client: ChatClient, source: ModelSource, template: str, reload: bool) -> None:
        try:
            if reload and client.last_load is not None:
                info = client.reload()  # a fresh worker with the same model
            else:
                if not client.alive:
                    client.start()
                info = client.load(source.model, source.adapters, template)
        except WorkerError as exc:
            self.post_message(self.Failed(slot, str(exc), exc.kind))
            return
        self.post_message(self.Loaded(slot, info))

    @on(Button.Pressed, "#unload")
    def action_unload(self) -> None:
        for pane in self.panes():
            if pane.client is not None and pane.state in ("ready", "error"):
                pane.state = "loading"
                self.run_worker(functools.partial(self._unload_thread, pane.slot, pane.client), thread=True,
                                group=f"load-{pane.slot}", exit_on_error=False)

    def _unload_thread(self, slot: str, client: ChatClient) -> None:
        try:
            client.unload(timeout=60)
        except WorkerError:
            client.close(timeout=2.0)
        self.post_message(self.Unloaded(slot))

    def action_reload(self) -> None:
        """Start a fresh worker with the pane's model (after a crash, or to free memory)."""
        for pane in self.active_panes():
            if pane.source is not None and pane.state in ("ready", "error"):
                self._start_load(pane, pane.source, pane.template or "default", reload=True)

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        pane = self.pane(message.slot)
        pane.state = "ready"
        pane.set_status(t("chat.ready", self.lang, model=pane.name_shown, template=pane.template))

    @on(Unloaded)
    def _unloaded(self, message: Unloaded) -> None:
        pane = self.pane(message.slot)
        pane.state = "empty"
        pane.set_status(t("chat.empty", self.lang))
        self.notify(t("chat.unloaded", self.lang))

    # -- chat ---------------------------------------------------------------------------------
    @on(Input.Submitted, "#prompt")
    async def _submitted(self, event: Input.Submitted) -> None:
        await self.send(event.value)

    async def send(self, prompt: str) -> bool:
        """Send ``prompt`` to every active pane; False (with a notice) when it cannot be sent."""
        if not prompt.strip():
            return False
        panes = self.active_panes()
        if any(p.state == "generating" for p in panes):
            self.notify(t("chat.busy", self.lang), severity="warning")
            return False
        if any(p.state != "ready" for p in panes):
            self.notify(t("chat.need_model", self.lang), severity="warning")
            return False
        gen = self.gen_settings()
        if gen is None:
            return False
        gen.update(self.gen_extra)
        system = self.query_one("#system", Input).value.strip() or None
        box = self.query_one("#prompt", PromptInput)
        box.remember(prompt)
        box.value = ""
        for pane in panes:
            pane.transcript.system = system
            pane.transcript.add_user(prompt)
            pane.state = "generating"
            pane.set_status(t("chat.generating", self.lang, model=pane.name_shown))
            await pane.add_user(prompt)
            await pane.begin_reply()
            assert pane.client is not None
            self.run_worker(functools.partial(self._generate_thread, pane.slot, pane.client,
                                              pane.transcript.messages(), system, gen),
                            thread=True, group=f"chat-{pane.slot}", exit_on_error=False)
        return True

    def _generate_thread(self, slot: str, client: ChatClient, messages: list, system: str | None, gen: dict) -> None:
        try:
            for ev in client.stream(messages, system, gen):
                if ev["event"] == "delta":
                    self.post_message(self.Delta(slot, ev["text"]))
                else:
                    self.post_message(self.Done(slot, ev))
        except WorkerError as exc:
            self.post_message(self.Failed(slot, str(exc), exc.kind))

    @on(Delta)
    async def _delta(self, message: Delta) -> None:
        await self.pane(message.slot).write(message.fragment)

    @on(Done)
    async def _done(self, message: Done) -> None:
        pane = self.pane(message.slot)
        info = message.info
        stopped = bool(info.get("stopped"))
        reply = await pane.end_reply(stopped=stopped)
        usage, timings = info.get("usage") or {}, info.get("timings") or {}
        pane.transcript.add_assistant(reply, stopped=stopped or None, usage=usage, timings=timings)
        pane.state = "ready"
        rate = timings.get("tokens_per_s")
        pane.set_status(t("chat.stats", self.lang, model=pane.name_shown,
                             tokens=usage.get("completion_tokens", "?"), rate=f"{rate:.1f}" if rate else "?"))

    @on(Failed)
    async def _failed(self, message: Failed) -> None:
        pane = self.pane(message.slot)
        was_generating = pane.state == "generating"
        if was_generating and pane.reply_so_far:
            pane.transcript.add_assistant(pane.reply_so_far, stopped=True)
        pane.transcript.add_error(message.message, message.kind)
        crashed = message.kind in ("crash", "oom")
        pane.state = "error" if crashed or pane.client is None or not pane.client.alive else (
            "ready" if pane.client.loaded else "error")
        hint = f" {t('chat.reload_hint', self.lang)}" if pane.state == "error" else ""
        pane.set_status(message.message + hint, error=True)
        await pane.add_error(message.message)
        self.notify(message.message, severity="error", timeout=8)

    def action_stop(self) -> None:
        for pane in self.panes():
            if pane.state == "generating" and pane.client is not None:
                pane.client.stop()

    async def action_clear(self) -> None:
        if any(p.state == "generating" for p in self.panes()):
            self.notify(t("chat.busy", self.lang), severity="warning")
            return
        for pane in self.panes():
            pane.transcript.clear()
            await pane.clear_log()
        self.notify(t("chat.cleared", self.lang))

    def action_save(self) -> tuple[Path, Path] | None:
        shown = [p.transcript for p in self.panes() if p.transcript.turns]
        if not shown:
            self.notify(t("chat.nothing_to_save", self.lang), severity="warning")
            return None
        md, jsonl = transcripts.save(shown, self.transcripts_dir)
        self.notify(t("chat.saved", self.lang, md=self.workspace.relative(md),
                         jsonl=self.workspace.relative(jsonl)))
        return md, jsonl
