"""The shell's scenarios in a real terminal: medtui in tmux at 80x24, driven by keys, read off the screen.

F9 then Esc returns from every screen; ctrl+t with Predict open, and with a download running,
neither crashes nor cancels anything; a malformed dataset entry on Start and a malformed run
record on Runs each produce a visible message. (Three real runs started from Home, each with a
live monitor, are in tests/e2e/test_shell_runs_e2e.py.)
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import copy_ws
from tests.fakehub import FakeHub
from tests.tui_helpers import TMUX, Terminal, make_run

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed, so the terminal tests cannot run")
KB = 1024


@pytest.fixture
def terminal(demo_template, tmp_path):
    opened: list[Terminal] = []

    def open_(env: dict[str, str] | None = None, prepare=None) -> Terminal:
        ws = copy_ws(demo_template, tmp_path / f"ws{len(opened) or ''}")
        if prepare is not None:
            prepare(ws)
        term = Terminal(ws.root, tmp_path, env)
        opened.append(term)
        term.wait_for("PT Pre-Training", "f5 Train")
        return term

    yield open_
    for term in opened:
        term.close()


def tabs_line(screen: str) -> str:
    return screen.splitlines()[0] if screen else ""


def torch_row(screen: str) -> str:
    return next(line for line in screen.splitlines() if " PyTorch " in line)


def test_f9_then_escape_returns_from_every_screen(terminal):
    term = terminal()
    for key, marker in (("F2", "Status"), ("F3", "Download"), ("F4", "Records"), ("F5", "model_name_or_path"),
                        ("F6", "Final loss"), ("F7", "Message"), ("F8", "Export folder"), ("F1", "PT Pre")):
        term.keys(key)
        before = term.wait_for(marker)
        term.keys("F9")
        term.wait_for("Max samples", "Predict")
        term.keys("Escape")
        after = term.wait_for(marker)
        assert term.alive() and "Max samples" not in after, f"{key}: Esc did not close Predict"
        assert tabs_line(after) == tabs_line(before) and f"▸{key.lower()} " in tabs_line(after), tabs_line(after)


def test_environment_is_unchanged_after_predict_and_shows_torch_answers_at_once_next_time(terminal, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    term = terminal(env)
    term.keys("F2", pause=0)  # medtui is still asking torch in the background (nothing kept yet)
    checked = term.wait_for("Status", " failed", timeout=90)  # the summary, once every check answered
    assert torch_row(checked).split()[0] in ("✔", "▲", "✖")  # answered, not "…"
    term.keys("F9")
    term.wait_for("Max samples")
    term.keys("Escape")
    assert term.wait_for("Status") == checked  # the whole screen, not only its tab
    term.close()

    again = terminal(env)  # a later medtui, another workspace: torch's answers show at once
    again.keys("F2", pause=0)
    shown = again.wait_for("Status", "torch checked at", timeout=5)
    assert "checking…" not in shown and torch_row(shown) == torch_row(checked)
    again.keys("F9")
    again.wait_for("Max samples")
    again.keys("Escape")
    assert again.wait_for("Status") == shown


def test_ctrl_t_with_predict_open_keeps_it_open_and_the_app_alive(terminal):
    term = terminal()
    term.keys("F1", "F9")
    term.wait_for("Max samples")
    term.keys("C-t")
    term.wait_for("最大样本数", "预测")
    term.keys("C-t")
    term.wait_for("Max samples")
    term.keys("Escape")
    term.wait_for("PT Pre-Training", "f1 Home")
    assert term.alive()


def test_ctrl_t_during_a_download_neither_crashes_nor_cancels_it(terminal, tmp_path):
    data = (bytes(range(256)) * (1500 * KB // 256 + 1))[:1500 * KB]
    hub = FakeHub()
    hub.add("models", "qwen/Tiny-Model", {"config.json": b'{"model_type": "qwen2"}', "model.safetensors": data})
    hub.slow = {"model.safetensors": 200 * KB}  # about 7 s
    url = hub.start()
    try:
        env = {"MODELSCOPE_ENDPOINT": url, "MODELSCOPE_CACHE": str(tmp_path / "ms-cache"),
               "MODELSCOPE_HOME": str(tmp_path / "ms-home"), "MODELSCOPE_DOWNLOAD_INTRA_CLOUD": "false"}
        term = terminal(env)
        term.keys("F3")
        term.wait_for("Download")
        term.type("qwen/Tiny-Model")
        term.keys("C-r")
        term.wait_for("model.safetensors", "↓")
        term.keys("C-t")
        term.wait_for("下载", "f3 模型")
        term.keys("C-t")
        screen = term.wait_for("Download", "f3 Models")
        assert "cancelled" not in screen
        term.wait_for("2 file(s) in models/Tiny-Model", timeout=90)
        assert term.alive()
    finally:
        hub.stop()


def test_a_malformed_dataset_entry_on_start_is_shown(terminal):
    def prepare(ws):
        info = json.loads(ws.registry_path.read_text())
        info["demo_sft_train_data"] = "not an object"
        ws.registry_path.write_text(json.dumps(info))

    term = terminal(prepare=prepare)
    term.keys("Right", "Enter")  # Home's SFT card: the prefilled form
    term.wait_for("output_dir", "Start ^r")
    term.keys("C-r")
    term.wait_for("must be a JSON object")
    assert term.alive()


def test_a_malformed_run_record_on_runs_is_shown_beside_the_others(terminal):
    def prepare(ws):
        make_run(ws, "20260101-100000-sft-aaaa")
        bad = ws.runs_dir / "20260102-100000-dpo-bbbb"
        bad.mkdir(parents=True)
        (bad / "run.json").write_text("{\"id\": ")

    term = terminal(prepare=prepare)
    term.keys("F6")
    screen = term.wait_for("cannot be read", "20260101-100000-sft-aaaa")
    assert "20260102-100000-dpo-bbbb" in screen and "No runs" not in screen
