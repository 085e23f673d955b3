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
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Input

from medtui.core.chat import transcript as transcripts
from medtui.core.chat.client import ChatClient, WorkerError
from medtui.core.chat.models import ModelSource, resolve_model
from medtui.core.errors import MedtuiError
from medtui.core.workspace import Workspace
from medtui.tui.i18n import phrase, t
from medtui.tui.keymap import bind
from medtui.tui.screens.base import MedtuiScreen
from medtui.tui.screens.chat import text as _text  # noqa: F401  (registers the screen's strings)
from medtui.tui.screens.chat.pane import ChatPane, PromptInput
from medtui.tui.screens.chat.settings import ChatSettings
from medtui.tui.widgets.footer import MedtuiFooter

SLOTS = ("a", "b")


class ChatScreen(MedtuiScreen):
    NAME = "chat"
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
        bind("chat.stop", "stop"),
        bind("chat.clear", "clear"),
        bind("chat.save", "save"),
        bind("chat.reload", "reload"),
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
        super().__init__(workspace, lang)
        self.initial_model = model
        self.initial_template = template
        self.autoload = autoload and model is not None
        self.client_factory = client_factory
        self.transcripts_dir = transcripts_dir or workspace.root / "chats"
        self.compare = False
        #: Extra generation keys sent with every message (e.g. ``min_new_tokens`` on the HF backend).
        self.gen_extra: dict = {}
        self._panes: dict[str, ChatPane] = {}

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield self.navbar()
        with Horizontal(id="chat-body"):
            yield ChatSettings(self.workspace, self.lang)
            with Vertical(id="chat-main"):
                with Horizontal(id="panes"):
                    yield ChatPane("a", self.lang, id="pane-a")
                    yield ChatPane("b", self.lang, id="pane-b")
                yield self.tr(PromptInput(id="prompt"), "chat.prompt")
        yield MedtuiFooter()

    @property
    def settings(self) -> ChatSettings:
        return self.query_one(ChatSettings)

    @property
    def sources(self) -> dict[str, ModelSource]:
        return self.settings.sources

    def on_mount(self) -> None:
        self._panes = {slot: self.query_one(f"#pane-{slot}", ChatPane) for slot in SLOTS}
        self.settings.refresh_models()
        initial = self.initial_model
        if isinstance(initial, str):
            try:
                initial = resolve_model(self.workspace, initial)
            except MedtuiError as exc:
                self.notify(str(exc), severity="error")
                initial = None
        if isinstance(initial, ModelSource):
            self.settings.choose(initial, self.initial_template)
            if self.autoload:
                self.call_after_refresh(self.action_load)
        self.query_one("#prompt", PromptInput).focus()

    def on_unmount(self) -> None:
        for pane in self._panes.values():
            if pane.client is not None:
                pane.client.close(timeout=1.0)
                pane.client = None

    def panes(self) -> list[ChatPane]:
        return list(self._panes.values())

    def pane(self, slot: str) -> ChatPane:
        return self._panes[slot]

    def active_panes(self) -> list[ChatPane]:
        return self.panes() if self.compare else [self.pane("a")]

    @on(Checkbox.Changed, "#compare")
    def _compare_changed(self, event: Checkbox.Changed) -> None:
        self.compare = event.value
        self.set_class(event.value, "-compare")

    def gen_settings(self) -> dict | None:
        gen, problems = self.settings.gen_settings()
        for problem in problems:
            self.notify(t("chat.bad_setting", self.lang, field=t(f"gen.{problem.field}", self.lang),
                          message=problem.message), severity="error")
        return None if problems else gen

    def worker_failed(self, group: str, error: BaseException) -> None:
        """A load or a reply failed unexpectedly: the pane says why and can be reloaded (ctrl+r)."""
        kind, _, slot = group.partition("-")
        if kind in ("load", "chat") and slot in self._panes:
            from medtui.tui.errors import one_line

            pane = self.pane(slot)
            pane.state = "error"
            pane.set_status(phrase("chat.with_hint", message=one_line(error), hint=phrase("chat.reload_hint")),
                            error=True)

    # -- load / unload ------------------------------------------------------------------------
    @on(Button.Pressed, "#load")
    def action_load(self) -> None:
        template = self.settings.template
        wanted: list[tuple[ChatPane, ModelSource]] = []
        for pane in self.active_panes():
            try:
                source = self.settings.source_for(pane.slot)
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
        pane.set_status(phrase("chat.loading", model=source.label))
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
        self.query_one("#prompt", PromptInput).focus()  # loaded: the next thing to do is to type
        pane.set_status(phrase("chat.ready", model=pane.name_shown, template=pane.template))

    @on(Unloaded)
    def _unloaded(self, message: Unloaded) -> None:
        pane = self.pane(message.slot)
        pane.state = "empty"
        pane.set_status(phrase("chat.empty"))
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
        system = self.settings.system
        box = self.query_one("#prompt", PromptInput)
        box.remember(prompt)
        box.value = ""
        for pane in panes:
            pane.transcript.system = system
            pane.transcript.add_user(prompt)
            pane.state = "generating"
            pane.set_status(phrase("chat.generating", model=pane.name_shown))
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
        pane.set_status(phrase("chat.stats", model=pane.name_shown,
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
        pane.set_status(phrase("chat.with_hint", message=message.message, hint=phrase("chat.reload_hint"))
                        if pane.state == "error" else message.message, error=True)
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
