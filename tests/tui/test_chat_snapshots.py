"""How the Chat, Export and Predict screens look at 80x24 and 120x40 (no model loads, no live
output: a fresh demo workspace with no runs, so every label is a fixed relative path). Chat and
Export are shown in the real app; Predict, a screen pushed over any other, on its own."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.widgets import Checkbox, Input

from medtui.core.chat.models import resolve_model
from medtui.tui.screens.chat.screen import ChatScreen
from medtui.tui.screens.export import ExportScreen
from medtui.tui.screens.predict import PredictScreen
from tests.tui_helpers import real_app

DEMO_MODEL = "models/workflow-demo-tiny-qwen2"


def host(make_screen) -> App:
    class Host(App):
        TITLE = "medtui"

        def on_mount(self) -> None:
            self.push_screen(make_screen())

    return Host()


async def steady(pilot) -> None:
    """No blinking cursors; let the footer and the selects settle."""
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def test_chat_screen_empty_80x24(snap_compare, demo_ws, tmp_path):
    assert snap_compare(real_app(demo_ws, tmp_path, "chat"), terminal_size=(80, 24), run_before=steady)


def test_chat_screen_compare_zh_120x40(snap_compare, demo_ws, tmp_path):
    source = resolve_model(demo_ws, DEMO_MODEL)

    async def compare(pilot) -> None:
        pilot.app.screen.query_one("#compare", Checkbox).value = True
        await steady(pilot)

    app = real_app(demo_ws, tmp_path, "chat", lang="zh",
                   screens={"chat": lambda ws, lang: ChatScreen(ws, lang, model=source, autoload=False)})
    assert snap_compare(app, terminal_size=(120, 40), run_before=compare)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_export_screen(snap_compare, demo_ws, tmp_path, size):
    source = resolve_model(demo_ws, DEMO_MODEL)
    app = real_app(demo_ws, tmp_path, "export", screens={"export": lambda ws, lang: ExportScreen(ws, lang, source=source)})
    assert snap_compare(app, terminal_size=size, run_before=steady)


def test_predict_screen_empty_80x24(snap_compare, demo_ws):
    assert snap_compare(host(lambda: PredictScreen(demo_ws)), terminal_size=(80, 24), run_before=steady)
