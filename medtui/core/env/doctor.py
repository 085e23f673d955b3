"""The environment doctor: is this machine ready to run LLaMA-Factory through medtui?

:func:`iter_checks` yields one :class:`CheckResult` per check as soon as it finishes. The heavy
checks (importing torch, CUDA, bf16) run in ``python -m medtui.workers.doctor_probe`` with a
timeout, started first so they overlap the quick ones; a screen can therefore fill in
progressively. :func:`run_checks` collects them, with an optional per-result callback.

Fix actions: :func:`set_use_tf` (``USE_TF=0`` for medtui's runs, stored by :mod:`runenv`) and
:func:`tf_keras_command` + :func:`run_command` (pip install with the output streamed).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

from medtui.core.env import checks as dc
from medtui.core.env import probe_cache, runenv
from medtui.core.env.child import child_env
from medtui.core.env.results import STATUSES, TITLES, CheckResult, result, title  # noqa: F401 (the doctor's API)
from medtui.core.errors import MedtuiError

HEAVY = ("torch", "cuda", "bf16")
PROBE_TIMEOUT = 120.0
POLL = 0.2  # seconds between looks at ``cancel`` while torch is asked


def check_ids(only: list[str] | None = None) -> list[str]:
    """The checks to run, in display order; unknown ids raise MedtuiError."""
    if not only:
        return list(TITLES)
    unknown = [c for c in only if c not in TITLES]
    if unknown:
        raise MedtuiError(f"unknown check(s) {', '.join(unknown)}; the checks are {', '.join(TITLES)}")
    return [c for c in TITLES if c in only]


def _quick(check_id: str, ws, ranges_cache: dict) -> CheckResult:
    if check_id in dc.RANGED_PACKAGES:
        if "ranges" not in ranges_cache:
            ranges_cache["ranges"] = dc.declared_ranges()
        return dc.check_package(check_id, ranges_cache["ranges"])
    simple: dict[str, Callable[[], CheckResult]] = {
        "python": dc.check_python, "llamafactory": dc.check_llamafactory, "gpus": dc.check_gpus,
        "keras": lambda: dc.check_keras(ws), "ppo": dc.check_ppo,
        "disk": lambda: dc.check_disk(ws), "workspace": lambda: dc.check_workspace(ws),
    }
    return simple[check_id]()


def _guarded(check_id: str, fn: Callable[[], CheckResult]) -> CheckResult:
    try:
        return fn()
    except Exception as exc:  # a check must never take the doctor down
        return result(check_id, "fail", f"the check itself failed: {type(exc).__name__}: {exc}")


def probe_argv() -> list[str]:
    flags = ["-S"] if sys.flags.no_site else []
    return [sys.executable, *flags, "-m", "medtui.workers.doctor_probe"]


class _Probe:
    """The heavy-check subprocess, read line by line on a thread so reads can time out."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        self.answered = 0
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL,
                                     text=True, env=env)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stderr.close()


def _heavy_results(probe: _Probe, wanted: list[str], deadline: float, timeout: float,
                   cancel: threading.Event | None = None) -> Iterator[CheckResult]:
    pending = list(wanted)
    while pending:
        try:
            line = probe.lines.get(timeout=max(0.0, min(POLL, deadline - time.monotonic())))
        except queue.Empty:
            if cancel is not None and cancel.is_set():
                return
            if time.monotonic() < deadline:
                continue
            for check_id in pending:
                yield result(check_id, "warn", f"no answer within {timeout:.0f} s (importing torch hangs?)",
                             "run: python -c 'import torch' to see what blocks")
            return
        if line is None:
            probe.proc.wait()
            tail = probe.stderr_tail()
            for check_id in pending:
                yield result(check_id, "fail", f"the check process ended early (exit {probe.proc.returncode})"
                                               + (f": {tail}" if tail else ""))
            return
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue  # something in torch printed to stdout
        if isinstance(data, dict) and data.get("id") in pending and data.get("status") in STATUSES:
            pending.remove(data["id"])
            probe.answered += 1
            yield result(data["id"], data["status"], str(data.get("detail", "")), str(data.get("fix", "")))


def iter_checks(ws, *, only: list[str] | None = None, timeout: float = PROBE_TIMEOUT,
                argv: list[str] | None = None, reuse: bool = False,
                cancel: threading.Event | None = None) -> Iterator[CheckResult]:
    """Yield each check's result as it finishes (quick ones first, then the probe's).

    With ``reuse`` the heavy checks' last answers stand in for the probe while they are fresh
    (:mod:`probe_cache`; such results carry ``checked_at``), and a :func:`warm_up` under way is
    waited for rather than repeated. A probe that answers every heavy check refreshes that cache.
    Once ``cancel`` is set, nothing more is yielded and the probe is stopped within :data:`POLL`.
    """
    ids = check_ids(only)
    heavy = [c for c in ids if c in HEAVY]
    env = child_env(run_env=True, ws=ws) if heavy else {}
    probe = None
    if heavy and not reuse:
        probe = _start_probe(argv, env)
    ranges_cache: dict = {}
    try:
        for check_id in ids:
            if cancel is not None and cancel.is_set():
                return
            if check_id not in HEAVY:
                yield _guarded(check_id, partial(_quick, check_id, ws, ranges_cache))
        if heavy and reuse:
            if not _acquire(cancel):
                return
            try:
                reused = probe_cache.load(env, heavy)
                yield from reused or _ask_torch(argv, env, heavy, timeout, cancel)
            finally:
                _asking_torch.release()
        elif heavy:
            yield from _probe_results(probe, env, heavy, timeout, cancel)
    finally:
        if isinstance(probe, _Probe):
            probe.close()


def warm_up(ws, *, timeout: float = PROBE_TIMEOUT, argv: list[str] | None = None,
            cancel: threading.Event | None = None) -> bool:
    """Ask torch now, unless its kept answers are fresh, so the Environment screen can show them
    at once; True when it asked. The TUI calls this in a thread after its first frame."""
    env = child_env(run_env=True, ws=ws)
    if not _acquire(cancel):
        return False
    try:
        if probe_cache.load(env, list(HEAVY)) is not None:
            return False
        for _ in _ask_torch(argv, env, list(HEAVY), timeout, cancel):
            pass
        return True
    finally:
        _asking_torch.release()


#: Held while one thread asks torch for answers others may reuse (a warm-up, or a screen opening).
_asking_torch = threading.Lock()


def _acquire(cancel: threading.Event | None) -> bool:
    """Take :data:`_asking_torch`, unless ``cancel`` is set first."""
    while not _asking_torch.acquire(timeout=POLL):
        if cancel is not None and cancel.is_set():
            return False
    return True


def _start_probe(argv: list[str] | None, env: dict[str, str]) -> "_Probe | OSError":
    try:
        return _Probe(argv or probe_argv(), env)
    except OSError as exc:
        return exc


def _ask_torch(argv: list[str] | None, env: dict[str, str], heavy: list[str], timeout: float,
               cancel: threading.Event | None) -> Iterator[CheckResult]:
    probe = _start_probe(argv, env)
    try:
        yield from _probe_results(probe, env, heavy, timeout, cancel)
    finally:
        if isinstance(probe, _Probe):
            probe.close()


def _probe_results(probe: "_Probe | OSError", env: dict[str, str], heavy: list[str],
                   timeout: float, cancel: threading.Event | None) -> Iterator[CheckResult]:
    """The probe's answers (or why there are none); all of them are kept for :func:`iter_checks` ``reuse``."""
    if isinstance(probe, OSError):
        for check_id in heavy:
            yield result(check_id, "fail", f"cannot start the check process: {probe}")
        return
    answers = []
    for res in _heavy_results(probe, heavy, time.monotonic() + timeout, timeout, cancel):
        answers.append(res)
        yield res
    if probe.answered == len(heavy):
        probe_cache.save(env, answers)


def run_checks(ws, *, on_result: Callable[[CheckResult], None] | None = None, **kwargs) -> list[CheckResult]:
    """All results in display order; ``on_result`` sees each one as it finishes."""
    results: dict[str, CheckResult] = {}
    for res in iter_checks(ws, **kwargs):
        results[res.id] = res
        if on_result is not None:
            on_result(res)
    return [results[c] for c in TITLES if c in results]


def exit_code(results: list[CheckResult]) -> int:
    return 1 if any(r.status == "fail" for r in results) else 0


# -- fixes ------------------------------------------------------------------------------------
def use_tf_disabled(ws=None) -> bool:
    return runenv.load(ws).get("USE_TF") == "0"


def set_use_tf(disabled: bool, ws=None) -> Path:
    """Set (or clear) ``USE_TF=0`` for medtui's runs, in the user's run-env file (or ``ws``'s)."""
    return runenv.set_var("USE_TF", "0" if disabled else None, ws=ws)


def tf_keras_command() -> list[str]:
    """Install tf-keras into the interpreter medtui runs on."""
    return [sys.executable, "-m", "pip", "install", "tf-keras"]


def run_command(argv: list[str], on_line: Callable[[str], None], *, timeout: float | None = None,
                stop: threading.Event | None = None) -> int:
    """Run ``argv`` (no shell), passing each output line (stdout and stderr) to ``on_line``."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, errors="replace", bufsize=1)
    except OSError as exc:
        on_line(f"cannot start {argv[0]}: {exc}")
        return 127
    started = time.monotonic()
    assert proc.stdout is not None
    for line in proc.stdout:
        on_line(line.rstrip("\n"))
        if (stop is not None and stop.is_set()) or (timeout and time.monotonic() - started > timeout):
            proc.kill()
            break
    return proc.wait()
