"""The environment of medtui's child processes: this very copy of medtui first, then run variables, then extras."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import medtui
from medtui.core.env import child, runenv


def test_a_child_imports_this_copy_of_medtui(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "elsewhere"))
    env = child.child_env()
    assert env["PYTHONPATH"].split(os.pathsep) == [child.PACKAGE_PARENT, str(tmp_path / "elsewhere")]
    proc = subprocess.run([sys.executable, "-c", "import medtui; print(medtui.__file__)"], capture_output=True,
                          text=True, env=env, cwd=tmp_path)
    assert proc.stdout.strip() == medtui.__file__
    assert child.child_env(extra={"PYTHONPATH": "x"})["PYTHONPATH"] == "x"  # extras are the caller's last word


def test_run_variables_are_added_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("USE_TF", raising=False)
    runenv.set_var("USE_TF", "0")
    assert "USE_TF" not in child.child_env()
    env = child.child_env(run_env=True, extra={"A": "1"})
    assert (env["USE_TF"], env["A"], env["PYTHONPATH"].split(os.pathsep)[0]) == ("0", "1", child.PACKAGE_PARENT)
    assert json.loads(runenv.user_path().read_text()) == {"USE_TF": "0"}
