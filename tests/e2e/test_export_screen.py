"""The Export screen: merge an adapter into its base for real, then verify the export by chatting
with it in a worker; and the form's bad inputs, which never start a run."""

from __future__ import annotations

import time

import pytest
from conftest import copy_ws
from textual.app import App
from textual.widgets import Input, RichLog, Select

from medtui.core.runs.records import list_runs
from medtui.tui.screens.export import ExportScreen

pytestmark = pytest.mark.e2e


async def wait_until(pilot, predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s")
        await pilot.pause(0.1)


def host(screen) -> App:
    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(screen)

    return Host()


def _source_key(screen: ExportScreen, suffix: str) -> str:
    return next(k for k, s in screen.sources.items() if s.label.endswith(suffix))


async def test_export_merges_an_adapter_and_verifies_the_result(trained_ws, tmp_path):
    ws = copy_ws(trained_ws, tmp_path / "ws")
    screen = ExportScreen(ws, poll_interval=0.2)
    async with host(screen).run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen.query_one("#source", Select).value = _source_key(screen, "saves/workflow-demo/lora/kto")
        await pilot.pause()
        assert screen.base.endswith("saves/workflow-demo/full/sft")
        assert screen.adapters == [str(ws.saves_dir / "workflow-demo" / "lora" / "kto")]
        assert screen.query_one("#out", Input).value == "saves/export/kto-merged"
        screen.query_one("#size", Input).value = "1"
        await pilot.click("#start")
        await wait_until(pilot, lambda: screen.state in ("verified", "failed"), 600)
        status = str(screen.query_one("#export-status").render())
        assert screen.state == "verified", status
        assert "generated" in status
        out = ws.saves_dir / "export" / "kto-merged"
        assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
        assert not list(out.glob("adapter_*"))  # merged, not an adapter
        [run] = list_runs(ws.runs_dir)
        assert run.stage == "export" and run.status == "succeeded" and run.record["kind"] == "export"
        assert run.record["config"]["export_size"] == 1
        assert len(screen.query_one("#export-log", RichLog).lines) > 3  # the log was tailed


async def test_export_form_bad_inputs_start_nothing(trained_ws, tmp_path):
    ws = copy_ws(trained_ws, tmp_path / "ws")
    screen = ExportScreen(ws)
    async with host(screen).run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.click("#start")  # no model chosen
        await pilot.pause()
        assert screen.state == "idle" and "Choose a base model" in str(app_notifications(screen))
        screen.query_one("#source", Select).value = _source_key(screen, "models/workflow-demo-tiny-qwen2")
        await pilot.pause()
        screen.query_one("#out", Input).value = "saves/workflow-demo/export/dpo-merged"  # already an export
        screen.query_one("#out", Input).focus()
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.state == "failed", 60)
        assert "already holds an exported model" in str(screen.query_one("#export-status").render())
        screen.query_one("#out", Input).value = ""
        screen.state = "idle"
        await pilot.press("ctrl+r")  # the Export key works with the focus in a field
        await pilot.pause()
        assert "export folder" in str(app_notifications(screen))
    assert list_runs(ws.runs_dir) == []


def app_notifications(screen) -> list[str]:
    return [n.message for n in screen.app._notifications]
