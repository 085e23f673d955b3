"""Three real runs in a row, each started from Home in one medtui session (tmux, 80x24).

This once broke on the third run: its monitor stayed blank, Home's cards froze and a succeeded run
read "not run yet" (long-lived polling workers had taken every thread of the worker pool). Each
run here must show a live monitor (its steps counting to the end, then succeeded), and Home must
show every finished run, without restarting medtui.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import copy_ws
from tests.tui_helpers import TMUX, Terminal

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed, so the terminal test cannot run")
RUN_TIMEOUT = 420  # seconds for one demo run on a busy 2-core machine


def wait_for_count(term: Terminal, text: str, count: int, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = term.screen()
    while screen.count(text) < count and time.monotonic() < deadline:
        time.sleep(0.3)
        screen = term.screen()
    assert screen.count(text) >= count, f"{count} x {text!r} did not appear; the pane shows:\n{screen}"
    return screen


def test_three_runs_started_from_home_each_show_a_live_monitor_and_home_follows(demo_template, tmp_path):
    ws = copy_ws(demo_template, tmp_path / "ws")
    term = Terminal(ws.root, tmp_path)
    try:
        term.wait_for("PT Pre-Training", "f5 Train")
        # Home focuses PT; Right moves to the next card (PT -> SFT -> RM)
        for finished, (moves, stage) in enumerate([((), "pt"), (("Right",), "sft"), (("Right",), "rm")]):
            term.keys(*moves, "Enter")  # the card's prefilled Train form
            term.wait_for(f"Stage {stage} ·", "Start ^r")
            term.keys("C-r")
            monitor = term.wait_for(f"-{stage}-", "step ", timeout=120)
            run_id = re.search(rf"\d{{8}}-\d{{6}}-{stage}-\w+", monitor).group(0)
            term.wait_for(f"{run_id} · {stage} · succeeded", timeout=RUN_TIMEOUT)
            steps = re.search(r"step (\d+)/(\d+)", term.screen())
            assert steps and int(steps.group(1)) == int(steps.group(2)) > 0, term.screen()  # counted to the end
            term.keys("F1")
            home = wait_for_count(term, "✓ succeeded", finished + 1)  # Home follows each run
            assert home.count("not run yet") == 7 - (finished + 1)
        assert term.alive()
    finally:
        term.close()
