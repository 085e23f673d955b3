"""medtui beside a user's own llamafactory: installing it changes nothing there, and the lifecycle runs.

Each virtualenv named in ``MEDTUI_LLAMAFACTORY_VENVS`` (``os.pathsep``-separated) must hold a
llamafactory in medtui's tested range and no medtui. ``.ci/run`` makes one with the oldest
supported release (``.ci/oldest-llamafactory-venv``); a venv with an editable source checkout of
upstream main works the same way. The tests install a wheel built from this checkout (the package
index supplies the rest), then check that llamafactory's version and location and every
distribution that was there before are unchanged, and run ``medtui pipeline demo`` in that venv.
Without the variable they are skipped: making such a venv takes minutes and gigabytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medtui.core.env.llamafactory_compat import version_status
from tests.conftest import ROOT

VENVS = [Path(p) for p in os.environ.get("MEDTUI_LLAMAFACTORY_VENVS", "").split(os.pathsep) if p]
pytestmark = pytest.mark.skipif(not VENVS, reason="set MEDTUI_LLAMAFACTORY_VENVS to a venv with llamafactory "
                                                  "(.ci/run makes one with the oldest supported release)")

STATE = r"""
import importlib.metadata as md, importlib.util as iu, json
spec = iu.find_spec("llamafactory")
print(json.dumps({
    "version": md.version("llamafactory"),
    "location": list(spec.submodule_search_locations)[0],
    "requires": md.requires("llamafactory") or [],
    "dists": {d.metadata["Name"].lower().replace("_", "-"): d.version for d in md.distributions()},
}))
"""


def venv_env(venv: Path) -> dict[str, str]:
    """The venv's own interpreter and scripts first; no PYTHONPATH, so its installed medtui is what runs."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(venv)
    return env


def run(venv: Path, *argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run in the venv from its own folder: a checkout as the working directory would be on ``sys.path``."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=venv_env(venv), cwd=venv)


def state(venv: Path) -> dict:
    proc = run(venv, str(venv / "bin" / "python"), "-c", STATE, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """medtui's wheel, built from a copy of this checkout (the checkout itself gets no build folders)."""
    src = tmp_path_factory.mktemp("medtui-src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "medtui", src / "medtui", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (built,) = out.glob("medtui-*.whl")
    return built


def wait_until_built(venv: Path) -> None:
    """``.ci/run`` builds the venv in the background while the tests run, and writes the build's exit
    status to ``VENV.done`` when it ends (its log is ``VENV.log``). Without that file: a venv made by hand."""
    done = venv.with_name(venv.name + ".done")
    if not done.exists() and not venv.with_name(venv.name + ".building").exists():
        return
    deadline = time.monotonic() + 1800
    while not done.exists():
        assert time.monotonic() < deadline, f"{venv} was still being built after 30 minutes"
        time.sleep(2)
    log = venv.with_name(venv.name + ".log")
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    assert done.read_text().strip() == "0", f"building {venv} failed:\n{tail}"


@pytest.fixture(scope="session", params=VENVS, ids=[p.name for p in VENVS])
def installed(request, wheel):
    """(venv, state before, state after) once medtui's wheel is installed into the venv."""
    venv = request.param
    wait_until_built(venv)
    before = state(venv)
    assert "medtui" not in before["dists"], f"{venv} already holds medtui; give a venv without it"
    assert version_status(before["version"]).in_range, f"{venv} holds llamafactory {before['version']}"
    proc = run(venv, str(venv / "bin" / "python"), "-m", "pip", "install", str(wheel), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return venv, before, state(venv)


def test_installing_medtui_leaves_llamafactory_and_its_dependencies_alone(installed):
    venv, before, after = installed
    assert (after["version"], after["location"]) == (before["version"], before["location"])
    changed = {name: (v, after["dists"].get(name)) for name, v in before["dists"].items() if after["dists"].get(name) != v}
    assert changed == {}, f"installing medtui changed {changed}"
    assert after["dists"]["medtui"] == "0.1.0"
    print(f"{venv}: llamafactory {after['version']} at {after['location']}, unchanged; medtui added "
          f"{sorted(set(after['dists']) - set(before['dists']))}")


def test_doctor_in_that_venv_sees_its_llamafactory_in_range(installed):
    venv, before, _ = installed
    proc = run(venv, str(venv / "bin" / "medtui"), "doctor", "--json", "--only", "llamafactory,ppo", timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = {r["id"]: r for r in json.loads(proc.stdout)}
    assert results["llamafactory"]["status"] == "ok"
    assert f"llamafactory {before['version']} at {before['location']}" in results["llamafactory"]["detail"]
    assert results["ppo"]["status"] == "ok"


def test_demo_lifecycle_runs_on_that_llamafactory(installed, tmp_path):
    venv, _, _ = installed
    ws = tmp_path / "ws"
    medtui = str(venv / "bin" / "medtui")
    proc = run(venv, medtui, "demo", "init", str(ws), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = run(venv, medtui, "pipeline", "demo", "--workspace", str(ws), timeout=1500)
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = run(venv, medtui, "runs", "--json", "--workspace", str(ws), timeout=120)
    runs = json.loads(proc.stdout)
    chain = [r for r in runs if r["kind"] == "pipeline"]  # the pipeline is a run of its own
    assert [r["status"] for r in chain] == ["succeeded"], chain
    runs = [r for r in runs if r["kind"] != "pipeline"]
    stages = sorted(r["stage"] for r in runs)
    assert stages == sorted(["pt", "sft", "rm", "ppo", "dpo", "kto", "export", "export"])
    assert all(r["status"] == "succeeded" for r in runs), [(r["stage"], r["status"]) for r in runs]
