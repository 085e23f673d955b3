"""Environment screen: checks fill in as they finish; USE_TF toggle; tf-keras install with visible output."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from textual.app import App
from textual.widgets import DataTable, RichLog, Static

from medtui.core.env import doctor
from medtui.core.env.doctor import result
from medtui.core.workspace import Workspace
from medtui.tui.screens.confirm import ConfirmScreen
from medtui.tui.screens.environment import EnvironmentScreen

KERAS_WARN = result("keras", "warn", "TensorFlow 2.16.1 is installed with Keras 3.3.3 and without tf-keras",
                    "set USE_TF=0 for medtui's runs, or install tf-keras", actions=("use-tf", "tf-keras"))


def fixed_results() -> list:
    """One deterministic result per check (for snapshots and stubs)."""
    out = []
    for check_id in doctor.TITLES:
        if check_id == "keras":
            out.append(KERAS_WARN)
        elif check_id in ("cuda", "gpus", "bf16"):
            out.append(result(check_id, "warn", f"no GPU visible ({check_id})", "check nvidia-smi"))
        elif check_id == "ppo":
            out.append(result("ppo", "fail", "no PPO path works: llamafactory's PPO needs trl>=0.8.6,<=0.9.6",
                              "pip install 'trl>=0.18,<=0.24'"))
        else:
            out.append(result(check_id, "ok", f"{doctor.title(check_id)} is fine"))
    return out


class Host(App):
    def __init__(self, screen):
        super().__init__()
        self._screen = screen

    def on_mount(self) -> None:
        self.push_screen(self._screen)


async def wait_for(pilot, predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def _status_cell(screen, check_id: str) -> str:
    return str(screen.query_one("#env-table", DataTable).get_cell(check_id, "status"))


@pytest.fixture
def ws(tmp_path) -> Workspace:
    ws = Workspace.open(tmp_path / "ws")
    ws.ensure_layout()
    return ws


@pytest.fixture(autouse=True)
def user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


async def test_checks_fill_in_progressively(ws):
    gate = threading.Event()
    results = fixed_results()

    def checks(workspace, only, reuse, cancel):
        yield from results[:2]
        gate.wait(10)
        yield from results[2:]

    screen = EnvironmentScreen(ws, checks=checks)
    async with Host(screen).run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: len(screen.results) == 2)
        assert "checking… 2/15" in str(screen.query_one("#env-summary", Static).render())
        assert "ok" in _status_cell(screen, "python")
        assert _status_cell(screen, "torch") == "…"  # still pending
        gate.set()
        await wait_for(pilot, lambda: not screen.running)
        assert "10 ok · 4 warning(s) · 1 failed" in str(screen.query_one("#env-summary", Static).render())
        assert "fail" in _status_cell(screen, "ppo")
        # the detail panel follows the cursor and shows the fix
        table = screen.query_one("#env-table", DataTable)
        table.move_cursor(row=list(doctor.TITLES).index("ppo"))
        await pilot.pause()
        detail = str(screen.query_one("#env-detail", Static).render())
        assert "no PPO path works" in detail and "fix:" in detail and "trl>=0.18" in detail


async def test_real_doctor_fills_every_row_and_the_next_screen_shows_torch_answers_at_once(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # nothing kept from other tests
    screen = EnvironmentScreen(ws)
    async with Host(screen).run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(screen.results) == len(doctor.TITLES) and not screen.running, 120)
        for check_id in doctor.TITLES:
            assert _status_cell(screen, check_id) != "…"
        assert screen.results["workspace"].status == "ok"
        assert screen.results["torch"].checked_at is None  # asked torch: nothing was kept yet
        first_torch = screen.results["torch"].detail

    again = EnvironmentScreen(ws)
    async with Host(again).run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: not again.running and len(again.results) == len(doctor.TITLES), 10)
        assert again.results["torch"].detail == first_torch and again.results["torch"].checked_at is not None
        summary = str(again.query_one("#env-summary", Static).render())
        assert "torch checked at" in summary
        await pilot.press("r")  # a re-run asks torch again
        await wait_for(pilot, lambda: not again.running and len(again.results) == len(doctor.TITLES), 120)
        assert again.results["torch"].checked_at is None
        assert "torch checked at" not in str(again.query_one("#env-summary", Static).render())


async def test_leaving_while_torch_is_asked_stops_the_probe_at_once(ws, tmp_path, monkeypatch):
    import psutil

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    hang = tmp_path / "hanging_probe.py"
    hang.write_text("import time\ntime.sleep(120)\n")  # an import torch that hangs
    monkeypatch.setattr(doctor, "probe_argv", lambda: [sys.executable, str(hang)])
    screen = EnvironmentScreen(ws)
    async with Host(screen).run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "workspace" in screen.results)
        probes = [p for p in psutil.process_iter(["cmdline"]) if str(hang) in " ".join(p.info["cmdline"] or [])]
        assert len(probes) == 1 and screen.running
        start = time.monotonic()
    gone, alive = psutil.wait_procs(probes, timeout=5)
    assert not alive and time.monotonic() - start < 2.0


async def test_use_tf_toggle_and_tf_keras_install(ws):
    calls: list = []

    def checks(workspace, only, reuse, cancel):
        calls.append(only)
        if only == ["keras"] and doctor.use_tf_disabled():
            yield result("keras", "ok", "USE_TF=0 is set for medtui's runs", actions=("use-tf", "tf-keras"))
            return
        yield from [r for r in fixed_results() if only is None or r.id in only]

    install = [sys.executable, "-c", "print('Collecting tf-keras'); print('Successfully installed tf-keras-2.16.0')"]
    screen = EnvironmentScreen(ws, checks=checks, install_command=install)
    async with Host(screen).run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: not screen.running and "keras" in screen.results)
        assert screen.query_one("#env-fixes").has_class("visible")

        await pilot.press("u")
        await wait_for(pilot, lambda: screen.results.get("keras") is not None and not screen.running)
        assert doctor.use_tf_disabled()
        assert calls[-1] == ["keras"] and screen.results["keras"].status == "ok"
        assert "on" in str(screen.query_one("#env-use-tf").label)

        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        assert " ".join(install) in str(pilot.app.screen.query_one("#confirm-detail", Static).render())
        await pilot.press("n")  # declined: nothing runs
        await pilot.pause()
        assert not screen.query_one("#env-log").has_class("visible")

        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.press("y")
        log = screen.query_one("#env-log", RichLog)
        await wait_for(pilot, lambda: any("finished (exit 0)" in line.text for line in log.lines))
        text = "\n".join(line.text for line in log.lines)
        assert log.has_class("visible")
        assert "Collecting tf-keras" in text and "Successfully installed tf-keras-2.16.0" in text

        await pilot.press("u")  # and off again
        await wait_for(pilot, lambda: not screen.running)
        assert not doctor.use_tf_disabled()


async def test_chinese_labels(ws):
    screen = EnvironmentScreen(ws, "zh", checks=lambda w, o, r, c: iter(fixed_results()))
    async with Host(screen).run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: not screen.running and len(screen.results) == 15)
        assert "项正常" in str(screen.query_one("#env-summary", Static).render())
        assert str(screen.query_one("#env-table", DataTable).get_cell("workspace", "check")) == "工作区可写"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot(snap_compare, ws, tmp_path, size):
    from tests.tui_helpers import real_app

    app = real_app(ws, tmp_path, "environment", screens={
        "environment": lambda w, lang: EnvironmentScreen(w, lang, checks=lambda w, o, r, c: iter(fixed_results()))})

    async def settle(pilot):
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, EnvironmentScreen) and not pilot.app.screen.running
                       and len(pilot.app.screen.results) == 15)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=settle)


def test_screens_and_quick_checks_import_nothing_heavy(ws):
    """The UI process never imports torch & co., not even through the core modules it uses."""
    import json
    import subprocess

    from tests.conftest import ROOT

    code = (
        "import sys, json\n"
        "from medtui.core.workspace import Workspace\n"
        "import medtui.tui.screens.environment, medtui.tui.screens.models.screen\n"
        "from medtui.core.env import doctor\n"
        f"ws = Workspace.open({str(ws.root)!r})\n"
        "doctor.run_checks(ws, only=[c for c in doctor.TITLES if c not in doctor.HEAVY])\n"
        "heavy = ('torch', 'transformers', 'llamafactory', 'trl', 'peft', 'datasets', 'tensorflow',"
        " 'modelscope', 'modelscope_hub', 'huggingface_hub')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


async def test_the_keras_fix_while_torch_is_asked_leaves_torchs_rows_to_fill_in(ws):
    gate = threading.Event()
    heavy = [r for r in fixed_results() if r.id in doctor.HEAVY]

    def checks(workspace, only, reuse, cancel):
        if only == ["keras"]:
            yield result("keras", "ok", "USE_TF=0 is set for medtui's runs")
            return
        yield from [r for r in fixed_results() if r.id not in doctor.HEAVY]
        gate.wait(10)  # torch is still importing
        yield from heavy

    screen = EnvironmentScreen(ws, checks=checks)
    try:
        async with Host(screen).run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: "keras" in screen.results and screen.results["keras"].actions)
            await pilot.press("u")  # the Keras fix re-checks Keras while the full run waits on torch
            await wait_for(pilot, lambda: screen.results.get("keras") is not None
                           and screen.results["keras"].status == "ok")
            assert screen.running and _status_cell(screen, "torch") == "…"
            gate.set()
            await wait_for(pilot, lambda: not screen.running)
            assert len(screen.results) == len(doctor.TITLES)
            assert _status_cell(screen, "torch") != "…" and screen.results["keras"].status == "ok"
    finally:
        gate.set()
