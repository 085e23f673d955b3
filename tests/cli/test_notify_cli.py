"""``medtui notify``: settings per user and per workspace, a test notification through the hook, bad input."""

from __future__ import annotations

import json
import sys

from tests.conftest import medtui_cli

HOOK = """import json, os, sys
event = json.load(sys.stdin)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump({"event": event, "env": {k: v for k, v in os.environ.items() if k.startswith("MEDTUI_")}}, f)
"""


def test_set_show_and_test_run_the_hook_without_a_shell(demo_ws, tmp_path):
    ws = str(demo_ws.root)
    script = tmp_path / "hook dir; 'quoted'" / "hook.py"
    script.parent.mkdir()
    script.write_text(HOOK, encoding="utf-8")
    out = tmp_path / "got $HOME.json"
    proc = medtui_cli("notify", "set", "--workspace", ws, "--scope", "workspace", "--bell", "off",
                      "--hook", sys.executable, str(script), str(out))
    assert proc.returncode == 0, proc.stderr
    assert "saved" in proc.stdout and ".medtui" in proc.stdout

    shown = json.loads(medtui_cli("notify", "show", "--json", "--workspace", ws).stdout)
    assert shown["bell"] is False and shown["hook"] == [sys.executable, str(script), str(out)]
    text = medtui_cli("notify", "show", "--workspace", ws).stdout
    assert "workspace settings:" in text and "(none)" not in text.splitlines()[1]

    proc = medtui_cli("notify", "test", "--workspace", ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "exit code 0" in proc.stdout
    got = json.loads(out.read_text(encoding="utf-8"))
    assert got["event"]["event"] == "test" and got["env"]["MEDTUI_RUN_ID"] == "notify-test"
    assert got["env"]["MEDTUI_DIAGNOSIS"] == "test"


def test_a_failing_hook_makes_notify_test_exit_1(demo_ws):
    ws = str(demo_ws.root)
    assert medtui_cli("notify", "set", "--workspace", ws, "--scope", "workspace", "--hook", sys.executable,
                      "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)").returncode == 0
    proc = medtui_cli("notify", "test", "--workspace", ws)
    assert proc.returncode == 1 and "exit code 3" in proc.stdout and "boom" in proc.stdout


def test_bad_input_is_one_line_and_keeps_the_file(demo_ws):
    ws = str(demo_ws.root)
    for args, message in ((["--bell", "on", "--no-hook", "--hook", "true"], "not both"),
                          (["--hook"], "needs a program"),
                          ([], "nothing to set")):
        proc = medtui_cli("notify", "set", "--workspace", ws, "--scope", "workspace", *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    broken = demo_ws.root / ".medtui" / "notify.json"
    broken.parent.mkdir(exist_ok=True)
    broken.write_text("{not json", encoding="utf-8")
    for action in (["show"], ["test"], ["set", "--scope", "workspace", "--bell", "off"]):
        proc = medtui_cli("notify", *action, "--workspace", ws)
        assert proc.returncode == 2 and "notify.json" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert broken.read_text(encoding="utf-8") == "{not json"
