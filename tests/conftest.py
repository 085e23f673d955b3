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

import compileall
import fcntl
import gc
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from medtui.core.demo import init_demo
from medtui.core.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("unit", "cli", "tui", "e2e")


def pytest_configure(config):
    """Collect garbage less often in the test processes: the Pilot tests build and drop whole Textual
    apps, and the collector's default pace costs them a fifth of their CPU time (measured 2026-11-29).

    The first process (xdist's controller, or the only one) byte-compiles medtui once: the suite
    starts medtui in hundreds of subprocesses, and where PYTHONDONTWRITEBYTECODE is set (as on CI)
    each of them would otherwise compile every module it imports.
    """
    gc.freeze()  # pytest's own long-lived objects: never scanned again
    gc.set_threshold(100_000, 50, 100)
    if not hasattr(config, "workerinput"):
        compileall.compile_dir(ROOT / "medtui", quiet=1)


#: Run order: the longest work first, so parallel workers finish together (e2e is one serial chain).
ORDER = ("e2e", "tui", "cli", "unit")


@pytest.hookimpl(optionalhook=True)  # a hook of xdist; -n 0 runs the suite in one process
def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (the default, see pyproject.toml): two workers per CPU, at least 4 and at most 8,
    unless PYTEST_XDIST_AUTO_NUM_WORKERS says otherwise. Most tests wait on a subprocess, a terminal
    or a timer rather than on a CPU."""
    chosen = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "")
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    return min(8, max(4, 2 * (os.cpu_count() or 1)))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Mark each test by its folder; keep real training runs in ``e2e/``, in one group.

    Under xdist the ``e2e`` tests run one after another on one worker (real training runs share the
    CPUs, a Slurm cluster and the session's trained workspace), while the other workers take the rest.
    """
    tests_dir = Path(__file__).resolve().parent
    folders = {}
    for item in items:
        folder = Path(str(item.path)).resolve().relative_to(tests_dir).parts[0]
        if folder not in FOLDERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in one of tests/{{{','.join(FOLDERS)}}}/")
        item.add_marker(getattr(pytest.mark, folder))
        if folder != "e2e" and ("trained_ws" in item.fixturenames or item.get_closest_marker("e2e")):
            raise pytest.UsageError(f"{item.nodeid} runs real training (trained_ws or an e2e mark): move it to tests/e2e/")
        if folder == "e2e":
            item.add_marker(pytest.mark.xdist_group("e2e"))
        folders[item.nodeid] = folder
    items.sort(key=lambda item: ORDER.index(folders[item.nodeid]))


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory):
    """Keep every test's user config, caches and demo folder out of the real home."""
    home = tmp_path_factory.mktemp("home")
    old = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "HF_HUB_OFFLINE",
                                           "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TQDM_DISABLE")}
    os.environ.update(XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
                      XDG_CACHE_HOME=str(home / "cache"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                      HF_DATASETS_OFFLINE="1", TQDM_DISABLE="1")
    _share_torch_answers(tmp_path_factory)
    yield home
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _share_torch_answers(tmp_path_factory) -> None:
    """Every app a test opens asks torch in the background unless its answers are kept
    (core/env/probe_cache.py), seconds of CPU each time: under xdist the first worker asks once and
    the others copy its answers into their own cache. Tests of the cache use caches of their own."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    from medtui.core.env import doctor, probe_cache

    shared = tmp_path_factory.getbasetemp().parent
    kept = shared / "doctor-probe.json"
    with open(shared / "doctor-probe.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if kept.exists():
            probe_cache.path().parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(kept, probe_cache.path())
        else:
            doctor.warm_up(None)
            if probe_cache.path().exists():
                shutil.copyfile(probe_cache.path(), kept)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Workspace:
    """The demo workspace, made once per test run: under xdist the first worker to ask builds it (the
    model takes seconds) while the others wait on a lock, then all share it read-only."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _demo_init(tmp_path_factory.mktemp("demo-template") / "ws")
    shared = tmp_path_factory.getbasetemp().parent  # one folder per run, common to its workers
    done = shared / "demo-template.done"
    with open(shared / "demo-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(shared / "demo-template", ignore_errors=True)  # a build that failed half-way
            _demo_init(shared / "demo-template" / "ws")
            done.touch()
    return Workspace.open(shared / "demo-template" / "ws")


def _demo_init(dest: Path) -> Workspace:
    """``medtui demo init`` as a user runs it (tests/cli/test_cli.py checks what it made)."""
    proc = medtui_cli("demo", "init", str(dest))
    assert proc.returncode == 0, f"medtui demo init failed:\n{proc.stderr}"
    return Workspace.open(dest)


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


def terminal_sigint() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: SIGINT at its default, as a
    terminal starts it. An xdist worker, or a run started as a background job, ignores SIGINT, and a
    child inherits that: Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def medtui_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None
               ) -> subprocess.CompletedProcess:
    """Run the real ``medtui`` CLI in a subprocess (same interpreter, this checkout)."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "medtui", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=full_env)
