"""The Chat screen driven by Pilot with real models (trained demo workspace).

One session exercises the whole screen so the workers load only three times: a Chinese prompt
streams into the Markdown widget; compare mode streams two models at once; Esc stops a reply;
a worker killed mid-reply shows a clear error and Ctrl+R reloads it; the transcript is saved.
Also: ``medtui chat MODEL`` without --prompt opens this screen on that model.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from textual.app import App
from textual.widgets import Checkbox, Input, Markdown, Select

from medtui.tui.screens.chat.screen import ChatScreen

pytestmark = pytest.mark.e2e
LONG = {"min_new_tokens": 4000}


async def wait_until(pilot, predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s")
        await pilot.pause(0.05)


def host(screen: ChatScreen) -> App:
    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(screen)

    return Host()


async def test_chat_screen_end_to_end(trained_ws, tmp_path):
    events: list[tuple[float, str, str]] = []
    recorded: list = []  # each message once (the hook also sees it bubble up to the app)

    def hook(message) -> None:
        if isinstance(message, (ChatScreen.Delta, ChatScreen.Done, ChatScreen.Failed, ChatScreen.Loaded)):
            if any(message is m for m in recorded[-8:]):
                return
            recorded.append(message)
            events.append((time.monotonic(), type(message).__name__, message.slot))

    def seen(kind: str, slot: str, since: int = 0) -> list[float]:
        return [t for t, k, s in events[since:] if k == kind and s == slot]

    screen = ChatScreen(trained_ws, model="sft", autoload=False, transcripts_dir=tmp_path / "chats")
    app = host(screen)
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        a, b = screen.pane("a"), screen.pane("b")
        await pilot.pause()
        assert a.state == "empty" and screen.query_one("#template", Input).value == "default"

        # 1. compare: load two models (in parallel), send one prompt, both stream at the same time.
        # The replies are long (4000 tokens), so the check waits for the moment both panes have
        # streamed and neither has finished, instead of comparing timestamps after the fact (under
        # load, a short reply could finish before the other worker got the CPU for its first token).
        screen.query_one("#compare", Checkbox).value = True
        await pilot.pause()
        dpo_key = next(k for k, s in screen.sources.items() if s.label.startswith("dpo ·"))
        screen.query_one("#model-b", Select).value = dpo_key
        screen.query_one("#gen-max_new_tokens", Input).value = "4000"
        screen.gen_extra = dict(LONG)
        await pilot.click("#load")
        await wait_until(pilot, lambda: a.state == "ready" and b.state == "ready", 300)
        assert "saves/workflow-demo/full/sft" in str(a.query_one(".pane-status").render())
        assert "saves/workflow-demo/lora/dpo" in str(b.query_one(".pane-status").render())
        assert screen.focused is screen.query_one("#prompt", Input)  # loaded: ready to type
        assert await screen.send("失眠怎么办？")
        await wait_until(pilot, lambda: seen("Delta", "a") and seen("Delta", "b"), 180)
        assert not seen("Done", "a") and not seen("Done", "b"), "both replies should be streaming at the same time"
        assert a.state == "generating" and b.state == "generating"
        await pilot.press("escape")  # stops both
        await wait_until(pilot, lambda: a.state == "ready" and b.state == "ready", 60)
        for pane in (a, b):
            assert [t.role for t in pane.transcript.turns] == ["user", "assistant"]
            assert pane.transcript.turns[-1].content and pane.transcript.turns[-1].meta.get("stopped") is True
        screen.query_one("#compare", Checkbox).value = False
        screen.query_one("#gen-max_new_tokens", Input).value = "40"
        screen.gen_extra = {"min_new_tokens": 40}  # sampling may not end the reply at once
        await pilot.pause()

        # 2. a Chinese prompt typed into the box streams into the Markdown widget
        mark = len(events)
        await pilot.click("#prompt")
        await pilot.press(*"头痛怎么办", "enter")
        await wait_until(pilot, lambda: a.state == "ready")
        assert len(seen("Delta", "a", mark)) >= 2, "the reply should arrive in several pieces"
        assert not seen("Delta", "b", mark)  # compare is off: only the first model answers
        reply = a.transcript.turns[-1]
        assert a.transcript.turns[-2].content == "头痛怎么办" and reply.role == "assistant" and reply.content
        assert a.query(Markdown).last().source == reply.content
        assert reply.meta["usage"]["completion_tokens"] > 0
        assert screen.query_one("#prompt", Input).value == ""
        assert len(a.transcript.messages()) == 4  # the history goes with each message
        await pilot.press("up")  # the prompt box recalls what was sent
        assert screen.query_one("#prompt", Input).value == "头痛怎么办"
        await pilot.press("down")
        assert screen.query_one("#prompt", Input).value == ""

        # 3. Esc stops a long reply
        screen.gen_extra = dict(LONG)
        screen.query_one("#gen-max_new_tokens", Input).value = "4000"
        mark = len(events)
        assert await screen.send("请详细介绍高血压。")
        await wait_until(pilot, lambda: seen("Delta", "a", mark))
        await pilot.press("escape")
        await wait_until(pilot, lambda: a.state == "ready", 60)
        stopped = a.transcript.turns[-1]
        assert stopped.meta.get("stopped") is True and stopped.meta["usage"]["completion_tokens"] < 4000
        assert "(stopped)" in a.query(Markdown).last().source

        # 4. the worker dies mid-reply: a clear error, the screen stays usable, Ctrl+R reloads
        mark = len(events)
        assert await screen.send("糖尿病要注意什么？")
        await wait_until(pilot, lambda: seen("Delta", "a", mark))
        old_pid = a.client.pid
        os.kill(old_pid, signal.SIGKILL)
        await wait_until(pilot, lambda: a.state == "error", 60)
        status = str(a.query_one(".pane-status").render())
        assert "killed (SIGKILL)" in status and "Ctrl+R" in status
        assert a.transcript.turns[-1].role == "error"
        assert not await screen.send("还在吗？")  # refused with a notice, not a traceback
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: a.state == "ready", 300)
        assert a.client.pid != old_pid
        screen.gen_extra = {"min_new_tokens": 8}
        screen.query_one("#gen-max_new_tokens", Input).value = "8"
        assert await screen.send("还在吗？")
        await wait_until(pilot, lambda: a.state == "ready")
        assert a.transcript.turns[-1].role == "assistant"

        # 5. save the transcript as Markdown and JSONL
        await pilot.press("ctrl+s")
        await pilot.pause()
        [md] = (tmp_path / "chats").glob("*.md")
        [jsonl] = (tmp_path / "chats").glob("*.jsonl")
        assert "头痛怎么办" in md.read_text(encoding="utf-8") and "## dpo ·" in md.read_text(encoding="utf-8")
        records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
        assert {r["role"] for r in records} == {"user", "assistant", "error"}
        assert any(r.get("stopped") for r in records)

        # 6. clear, then unload (the worker stays up for the next load)
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert a.transcript.turns == [] and not a.query(Markdown)
        await pilot.click("#unload")
        await wait_until(pilot, lambda: a.state == "empty" and b.state == "empty", 60)
        assert a.client.alive and a.client.loaded is None
        assert not await screen.send("你好")
    assert a.client is None  # the workers are closed with the screen


async def test_chat_command_without_prompt_opens_the_screen(trained_ws):
    from medtui.cli.chat_cmd import build_chat_app
    from medtui.core.chat.models import resolve_model

    source = resolve_model(trained_ws, "kto")
    app = build_chat_app(trained_ws, "zh", source, "default", autoload=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen) and screen.title == "对话测试"
        assert screen.query_one("#model-a", Select).value == source.key()
        assert screen.query_one("#template", Input).value == "default"
        assert screen.pane("a").state == "empty"
