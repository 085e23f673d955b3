"""Models screen: real downloads from the fake hub with progress, cancel and resume; registration; model check."""

from __future__ import annotations

import json
import threading

import pytest
from textual.widgets import DataTable, ProgressBar, Static

from medtui.core.hub import download
from medtui.core.workspace import Workspace
from medtui.tui.screens.models.screen import ModelsScreen
from tests.fakehub import FakeHub
from tests.tui.test_environment_screen import Host, wait_for

BIG = 1_500_000
DATA = (bytes(range(256)) * (BIG // 256 + 1))[:BIG]


@pytest.fixture
def hub():
    fake = FakeHub()
    fake.add("models", "qwen/Tiny-Model", {"config.json": b'{"model_type": "qwen2"}',
                                            "model.safetensors": DATA})
    fake.add("datasets", "xiaofengalg/Chinese-medical-dialogue", {"data/train_0001_of_0001.json": json.dumps(
        [{"instruction": "头痛怎么办?", "input": "", "output": "多休息。"}] * 5, ensure_ascii=False).encode()})
    fake.url = fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Workspace:
    monkeypatch.delenv("MODELSCOPE_ENDPOINT", raising=False)
    ws = Workspace.open(tmp_path / "ws")
    ws.ensure_layout()
    return ws


@pytest.fixture
def factory(tmp_path):
    env = {"MODELSCOPE_CACHE": str(tmp_path / "ms-cache"), "MODELSCOPE_HOME": str(tmp_path / "ms-home"),
           "MODELSCOPE_DOWNLOAD_INTRA_CLOUD": "false", "TQDM_DISABLE": "1"}
    return lambda req: download.Download(req, env=download.worker_env(extra=env))


async def _fill(pilot, screen, repo_id: str, endpoint: str) -> None:
    await pilot.click("#dl-id")
    await pilot.press(*repo_id)
    screen.query_one("#dl-endpoint").value = endpoint


async def test_progress_cancel_and_resume(ws, hub, factory):
    hub.slow = {"model.safetensors": 300_000}
    screen = ModelsScreen(ws, start_download=factory)
    dest = ws.models_dir / "Tiny-Model"
    async with Host(screen).run_test(size=(100, 30)) as pilot:
        await _fill(pilot, screen, "qwen/Tiny-Model", hub.url)
        await pilot.press("ctrl+r")
        big = lambda: next((r for r in (screen.download.view.files if screen.download.view else ()) if r.path == "model.safetensors"), None)  # noqa: E731
        await wait_for(pilot, lambda: big() is not None and 0.1 < big().fraction < 0.9)
        bar = screen.query_one("#dl-bar", ProgressBar)
        assert 0 < bar.progress < 100
        summary = str(screen.query_one("#dl-summary", Static).render())
        assert "/ 1.4 MiB" in summary and "/s" in summary and "ETA" in summary
        table = screen.query_one("#dl-files", DataTable)
        assert str(table.get_cell("config.json", "state")) == "✔ done"
        assert str(table.get_cell("model.safetensors", "state")) == "↓"

        await pilot.press("escape")  # cancel
        await wait_for(pilot, lambda: screen.download.job is None)
        assert "cancelled" in str(screen.query_one("#dl-status", Static).render())
        assert screen.download.view.status == "cancelled"
        partial = dest / "model.safetensors.incomplete"
        assert partial.is_file() and not (dest / "model.safetensors").exists()
        kept = partial.stat().st_size

        hub.slow = {}
        await pilot.press("ctrl+r")  # the same form again: resume
        await wait_for(pilot, lambda: screen.download.job is None and screen.download.view.status == "done")
        assert (dest / "model.safetensors").read_bytes() == DATA
        assert f"bytes={kept}-" in hub.ranges()
        status = str(screen.query_one("#dl-status", Static).render())
        assert "2 file(s) in models/Tiny-Model (1 fetched, 1 already there)" in status
        assert screen.query_one("#dl-bar", ProgressBar).progress == 100


async def test_dataset_download_offers_registration(ws, hub, factory):
    screen = ModelsScreen(ws, start_download=factory)
    async with Host(screen).run_test(size=(100, 30)) as pilot:
        await pilot.click("#kind-dataset")
        await _fill(pilot, screen, "xiaofengalg/Chinese-medical-dialogue", hub.url)
        await pilot.press("enter")  # submitting the id starts too
        await wait_for(pilot, lambda: screen.download.job is None and screen.download.view is not None)
        assert screen.download.view.status == "done"
        assert screen.query_one("#dl-register").has_class("visible")
        assert "prompt=instruction, query=input, response=output" in str(
            screen.query_one("#dl-status", Static).render())
        await pilot.press("ctrl+s")  # register
        await pilot.pause()
        info = json.loads((ws.data_dir / "dataset_info.json").read_text())
        assert info["Chinese-medical-dialogue"] == {
            "file_name": "Chinese-medical-dialogue/data/train_0001_of_0001.json",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
        assert "registered: Chinese-medical-dialogue" in str(screen.query_one("#dl-status", Static).render())


async def test_bad_input_and_unknown_id_are_shown(ws, hub, factory):
    screen = ModelsScreen(ws, start_download=factory)
    async with Host(screen).run_test(size=(100, 30)) as pilot:
        await _fill(pilot, screen, "Qwen2-0.5B", hub.url)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen.download.job is None
        assert "expected OWNER/NAME" in str(screen.query_one("#dl-status", Static).render())
        screen.query_one("#dl-id").value = "qwen/Nope"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.download.job is None and screen.download.view is not None)
        assert "model 'qwen/Nope' was not found" in str(screen.query_one("#dl-status", Static).render())


async def test_model_check_tab(ws, tmp_path):
    from tests.unit.test_modelcheck import _model

    _model(ws.models_dir / "Qwen2-0.5B")
    screen = ModelsScreen(ws)
    async with Host(screen).run_test(size=(100, 30)) as pilot:
        screen.query_one("#models-tabs").active = "tab-check"
        await pilot.pause()
        screen.query_one("#mc-load").value = False  # files only; loading is covered in test_modelcheck
        options = screen.query_one("#mc-local")
        assert options.option_count == 1
        options.focus()
        options.highlighted = 0
        await pilot.press("enter")
        table = screen.query_one("#mc-result", DataTable)
        await wait_for(pilot, lambda: table.row_count > 3)
        rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert rows["✔ ok"] == "models/Qwen2-0.5B"
        assert rows["parameters"] == "808" and rows["template"].startswith("qwen (")


class StubJob:
    """A scripted feed for snapshots: fixed events and times, then waits until cancelled."""

    def __init__(self, request):
        self.state = download.DownloadState(request=request)
        self.released = threading.Event()
        self.fed = threading.Event()

    def events(self):
        script = [
            {"event": "start", "endpoint": "https://www.modelscope.cn"},
            {"event": "plan", "files": [{"path": "config.json", "size": 1200, "done": True},
                                        {"path": "model.safetensors", "size": 988_097_824, "done": False},
                                        {"path": "tokenizer.json", "size": 7_028_015, "done": False},
                                        {"path": "merges.txt", "size": 1_671_853, "done": False}]},
            {"event": "file", "path": "tokenizer.json", "size": 7_028_015, "resumed": 0},
            {"event": "progress", "path": "tokenizer.json", "bytes": 7_028_015},
            {"event": "file_done", "path": "tokenizer.json"},
            {"event": "file", "path": "model.safetensors", "size": 988_097_824, "resumed": 0},
            {"event": "progress", "path": "model.safetensors", "bytes": 200_000_000},
            {"event": "progress", "path": "model.safetensors", "bytes": 420_000_000},
        ]
        for i, event in enumerate(script):
            self.state.apply(event, now=float(i * 10))
            yield event
        self.fed.set()
        self.released.wait(30)

    def cancel(self):
        self.released.set()

    def close(self):
        self.released.set()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot(snap_compare, ws, tmp_path, size):
    from tests.tui_helpers import real_app

    jobs: list[StubJob] = []

    def start(req):
        jobs.append(StubJob(req))
        return jobs[-1]

    app = real_app(ws, tmp_path, "models",
                   screens={"models": lambda w, lang: ModelsScreen(w, lang, start_download=start)})

    async def run(pilot):
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ModelsScreen) and pilot.app.screen.is_mounted)
        screen = pilot.app.screen
        screen.query_one("#dl-id").value = "qwen/Qwen2-0.5B"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: jobs and jobs[0].fed.is_set() and screen.download.view is not None
                       and any(r.fraction > 0.4 for r in screen.download.view.files))
        screen.query_one("#dl-files").focus()
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=size, run_before=run)
    finally:
        for job in jobs:
            job.released.set()
