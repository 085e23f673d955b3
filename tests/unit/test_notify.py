"""Notification settings, the user hook (argv, env, stdin JSON, timeout) and the TUI listeners."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from medtui.core import notify
from medtui.core.errors import MedtuiError

RECORD = {"id": "20261128-sft-ab12", "stage": "sft", "kind": "train", "status": "failed", "exit_code": 1,
          "output_dir": "/x/saves/sft", "workspace": "/x", "started": 1.0, "ended": 2.0,
          "diagnosis": {"cause": "template", "reason": "llamafactory has no template qwen25", "fix": "f"}}


def test_user_then_workspace_settings(tmp_path):
    ws = tmp_path / "ws"
    notify.save({"bell": False, "hook": ["true"], "custom_key": 1})
    notify.save({"hook_timeout": 5}, ws_root=ws)
    merged = notify.load(ws)
    assert merged["bell"] is False and merged["hook"] == ["true"] and merged["hook_timeout"] == 5
    assert merged["desktop"] is True and notify.load()["hook_timeout"] == 30
    notify.save({"hook": None})
    assert notify.load()["hook"] is None and json.loads(notify.user_path().read_text())["custom_key"] == 1
    notify.user_path().unlink()


@pytest.mark.parametrize("bad", [{"hook": "notify-send hi"}, {"hook": []}, {"bell": "yes"},
                                 {"hook_timeout": 0}, {"hook_events": ["crashed"]}])
def test_invalid_settings_are_refused_and_a_broken_file_is_skipped(tmp_path, bad):
    with pytest.raises(MedtuiError):
        notify.save(bad, ws_root=tmp_path)
    path = notify.workspace_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bad))
    assert notify.load(tmp_path) == notify.DEFAULTS
    with pytest.raises(MedtuiError, match=str(path)):
        notify.load(tmp_path, strict=True)


HOOK = """
import json, os, sys
data = json.load(sys.stdin)
env = {k: v for k, v in os.environ.items() if k.startswith("MEDTUI_")}
with open(sys.argv[1], "a") as fh:
    fh.write(json.dumps({"argv": sys.argv[2:], "env": env, "stdin": data}) + "\\n")
"""


def test_the_hook_gets_env_and_json_without_a_shell(tmp_path):
    out = tmp_path / "calls.jsonl"
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK)
    odd = "a; rm -rf / $(whoami) 'q'"
    result = notify.run_hook([sys.executable, str(hook), str(out), odd], notify.run_event(RECORD), timeout=30)
    assert result.ok, result
    call = json.loads(out.read_text())
    assert call["argv"] == [odd]  # passed literally: no shell
    assert call["env"]["MEDTUI_RUN_ID"] == RECORD["id"] and call["env"]["MEDTUI_RUN_STATUS"] == "failed"
    assert call["env"]["MEDTUI_DIAGNOSIS"] == "template" and "qwen25" in call["env"]["MEDTUI_REASON"]
    assert call["stdin"]["run"]["id"] == RECORD["id"] and call["stdin"]["diagnosis"] == RECORD["diagnosis"]


def test_a_hook_that_hangs_is_killed_with_its_children(tmp_path):
    started = time.monotonic()
    script = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    result = notify.run_hook([sys.executable, "-c", script], notify.run_event(RECORD), timeout=1.5)
    assert not result.ok and "timed out after 1.5 s" in result.error
    assert time.monotonic() - started < 15


def test_a_missing_hook_program_is_reported():
    result = notify.run_hook(["/no/such/notifier"], notify.run_event(RECORD))
    assert result.returncode is None and "could not start /no/such/notifier" in result.error


def test_open_tuis_receive_messages_and_stale_sockets_go(tmp_path):
    sock, path = notify.listen()
    try:
        stale = path.with_name("999999999-dead.sock")
        stale.touch()
        assert notify.send_to_listeners({"event": "run_end", "title": "t"}) == 1
        sock.settimeout(5)
        assert json.loads(sock.recv(65536))["title"] == "t"
        assert not stale.exists()
    finally:
        sock.close()
        path.unlink()


def test_terminal_sequences():
    seq = notify.terminal_sequences("medtui: sft failed", "run 1; oops\x07", tmux=False)
    assert seq.startswith("\a") and "\x1b]777;notify;medtui: sft failed;run 1, oops\x1b\\" in seq
    assert "\x1b]9;medtui: sft failed: run 1, oops\x1b\\" in seq
    wrapped = notify.terminal_sequences("t", "b", bell=False, tmux=True)
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b]777;") and wrapped.count("\x1bPtmux;") == 2
    assert notify.terminal_sequences("t", "b", bell=False, desktop=False) == ""


def test_run_ended_calls_the_hook_only_for_chosen_events(tmp_path):
    out = tmp_path / "calls.jsonl"
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK)
    ws = tmp_path / "ws"
    notify.save({"hook": [sys.executable, str(hook), str(out)], "hook_events": ["failed"]}, ws_root=ws)
    done = notify.run_ended({**RECORD, "workspace": str(ws)})
    assert done["hook"]["returncode"] == 0 and len(out.read_text().splitlines()) == 1
    assert "hook" not in notify.run_ended({**RECORD, "workspace": str(ws), "status": "succeeded"})
    assert len(out.read_text().splitlines()) == 1
    assert os.environ.get("MEDTUI_RUN_ID") is None  # the hook's environment is its own
