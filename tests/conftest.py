"""Shared fixtures. Real llamafactory runs happen on the tiny demo model, never mocked.

Tests live in folders that say what they need: ``unit/`` (plain Python), ``cli/`` (the ``medtui``
command in a subprocess), ``tui/`` (Textual Pilot, snapshots, tmux) and ``e2e/`` (real
``llamafactory-cli`` runs). Each folder's name is applied as a marker, so ``pytest -m "not e2e"``
collects no real training run. A test outside ``e2e/`` that asks for ``trained_ws`` is an error.

``demo_template`` builds one demo workspace per test session (the model is generated once);
``demo_ws`` gives each test its own copy. ``trained_ws`` runs the whole demo pipeline once per
session and is shared read-only: tests that write must copy it with ``copy_ws``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medtui.core.demo import init_demo
from medtui.core.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("unit", "cli", "tui", "e2e")


def pytest_collection_modifyitems(config, items):
    """Mark each test by its folder; keep real training runs in ``e2e/``."""
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        folder = Path(str(item.path)).resolve().relative_to(tests_dir).parts[0]
        if folder not in FOLDERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in one of tests/{{{','.join(FOLDERS)}}}/")
        item.add_marker(getattr(pytest.mark, folder))
        if folder != "e2e" and ("trained_ws" in item.fixturenames or item.get_closest_marker("e2e")):
            raise pytest.UsageError(f"{item.nodeid} runs real training (trained_ws or an e2e mark): move it to tests/e2e/")


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory):
    """Keep every test's user config, caches and demo folder out of the real home."""
    home = tmp_path_factory.mktemp("home")
    old = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "HF_HUB_OFFLINE",
                                           "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TQDM_DISABLE")}
    os.environ.update(XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
                      XDG_CACHE_HOME=str(home / "cache"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                      HF_DATASETS_OFFLINE="1", TQDM_DISABLE="1")
    yield home
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Workspace:
    return init_demo(tmp_path_factory.mktemp("demo-template") / "ws")


def copy_ws(src: Workspace, dest: Path) -> Workspace:
    """Copy a workspace without its run records (runs are tied to their folder)."""
    shutil.copytree(src.root, dest, ignore=shutil.ignore_patterns(".medtui"))
    return Workspace.open(dest)


@pytest.fixture
def demo_ws(demo_template, tmp_path) -> Workspace:
    return copy_ws(demo_template, tmp_path / "ws")


@pytest.fixture(scope="session")
def trained_ws(tmp_path_factory) -> Workspace:
    """A demo workspace after ``medtui pipeline demo`` (PT → SFT → RM → PPO → DPO → KTO → export, export-ppo),
    started as a user on SSH would: detached, its starter killed, a TUI opened and quit meanwhile
    (:mod:`tests.survival`; tests/e2e/test_pipeline_detached_e2e.py checks that it survived)."""
    from tests.survival import run_detached_demo

    ws = init_demo(tmp_path_factory.mktemp("trained") / "ws")
    facts = run_detached_demo(ws, tmp_path_factory.mktemp("survival"))
    if facts["status"] != "succeeded":
        logs = medtui_cli("logs", facts["pipeline_id"], "--workspace", str(ws.root))
        pytest.fail(f"demo pipeline {facts['status']}: {facts['reason']}\n{logs.stdout[-3000:]}\n{logs.stderr[-3000:]}")
    return ws


def medtui_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None
               ) -> subprocess.CompletedProcess:
    """Run the real ``medtui`` CLI in a subprocess (same interpreter, this checkout)."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "medtui", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=full_env)
