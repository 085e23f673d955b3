"""The conversation side of the chat screen: a pane per model (status line and scrolling log), the message box.

The pane only shows; the screen owns the worker client and feeds the pane. A reply streams
into a Markdown widget through ``Markdown.get_stream`` (fragments that arrive faster than the
widget renders are combined), and the log stays anchored to the bottom while the reader is
there.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from medtui.core.chat.client import ChatClient
from medtui.core.chat.models import ModelSource
from medtui.core.chat.transcript import Transcript
from medtui.tui.i18n import Phrase, localise_bindings, t
from medtui.tui.keymap import bind
from medtui.tui.screens.base import Localised


class ChatPane(Localised, Vertical):
    DEFAULT_CSS = """
    ChatPane { width: 1fr; height: 1fr; border: round $primary-darken-2; }
    ChatPane .pane-status { height: 1; padding: 0 1; color: $text-muted; text-style: italic; }
    ChatPane.-error .pane-status { color: $error; text-style: bold; }
    ChatPane .pane-log { height: 1fr; padding: 0 1; }
    ChatPane .who { margin-top: 1; text-style: bold; color: $accent; }
    ChatPane .who-user { color: $success; }
    ChatPane .error-line { color: $error; margin-top: 1; }
    ChatPane Markdown { margin: 0; padding: 0; }
    """

    def __init__(self, slot: str, lang: str = "en", **kwargs) -> None:
        super().__init__(**kwargs)
        self.slot = slot
        self.lang = lang
        self.client: ChatClient | None = None
        self.source: ModelSource | None = None
        self.template: str | None = None
        self.transcript = Transcript()
        self.state = "empty"  # empty | loading | ready | generating | error
        self._stream: MarkdownStream | None = None
        self._reply: Markdown | None = None
        self._pieces: list[str] = []

    def compose(self) -> ComposeResult:
        yield self.tr(Static(classes="pane-status"), "chat.empty")
        yield VerticalScroll(classes="pane-log")

    @property
    def log_view(self) -> VerticalScroll:
        return self.query_one(".pane-log", VerticalScroll)

    @property
    def name_shown(self) -> str:
        return self.source.label if self.source is not None else "?"

    @property
    def reply_so_far(self) -> str:
        return "".join(self._pieces)

    def set_status(self, message: str | Phrase, *, error: bool = False) -> None:
        self.show(self.query_one(".pane-status", Static), message)
        self.set_class(error, "-error")

    async def add_user(self, message: str) -> None:
        await self.log_view.mount_all([self.tr(Static(classes="who who-user"), "chat.you"),
                                       Markdown(message, classes="user-text")])
        self.log_view.scroll_end(animate=False)

    async def begin_reply(self) -> None:
        self._pieces = []
        self._reply = Markdown("", classes="reply")
        await self.log_view.mount_all([self.tr(Static(classes="who"), "chat.assistant"), self._reply])
        self.log_view.anchor()
        self._stream = Markdown.get_stream(self._reply)

    async def write(self, fragment: str) -> None:
        if self._stream is None:
            await self.begin_reply()
        self._pieces.append(fragment)
        assert self._stream is not None
        await self._stream.write(fragment)

    async def end_reply(self, *, stopped: bool = False) -> str:
        """Finish the streamed reply; the widget is set to the whole text once more."""
        reply = self.reply_so_far
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if self._reply is not None:
            await self._reply.update(reply + (f"\n\n*{t('chat.stopped', self.lang)}*" if stopped else ""))
        self._reply = None
        return reply

    async def add_error(self, message: str) -> None:
        if self._stream is not None:
            await self.end_reply()
        await self.log_view.mount(Static(message, classes="error-line", markup=False))
        self.log_view.scroll_end(animate=False)

    async def clear_log(self) -> None:
        await self.log_view.remove_children()
        self._pieces = []
        self._reply = None
        self._stream = None


class PromptInput(Input):
    """The message box; ↑/↓ walk through the prompts sent before."""

    BINDINGS = [bind("chat.history.previous", "history(-1)", show=False),
                bind("chat.history.next", "history(1)", show=False)]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history: list[str] = []
        self._pos = 0

    def on_mount(self) -> None:
        localise_bindings(self, self.screen.lang)

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
