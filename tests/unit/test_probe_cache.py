"""The doctor reuses torch's last answers while nothing they depend on has changed (core.env.probe_cache)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import pytest

from medtui.core.env import doctor, probe_cache, runenv
from medtui.core.env.child import PACKAGE_PARENT, child_env
from medtui.core.workspace import Workspace

HEAVY = ["torch", "cuda", "bf16"]


@pytest.fixture
def ws(tmp_path, monkeypatch) -> Workspace:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    ws = Workspace.open(tmp_path / "ws")
    ws.ensure_layout()
    return ws


def _probe(tmp_path, tag: str, *, ids=HEAVY, exit_code: int = 0, delay: float = 0) -> list[str]:
    """A stand-in probe that answers ``ids`` with details naming ``tag`` (after ``delay`` s), then exits."""
    script = tmp_path / f"probe-{tag}.py"
    lines = [f"import time; time.sleep({delay})", *[f"print(json.dumps({{'id': {i!r}, 'status': 'warn', 'detail': '{tag} {i}'}}), flush=True)" for i in ids]]
    script.write_text("import json, sys\n" + "\n".join(lines) + f"\nsys.exit({exit_code})\n")
    return [sys.executable, str(script)]


def _heavy(ws, argv, *, reuse: bool) -> dict:
    return {r.id: r for r in doctor.iter_checks(ws, only=HEAVY, argv=argv, reuse=reuse, timeout=30)}


def test_a_fresh_answer_is_reused_until_something_it_depends_on_changes(ws, tmp_path):
    first = _heavy(ws, _probe(tmp_path, "first"), reuse=True)  # nothing kept yet: the probe runs
    assert first["torch"].detail == "first torch" and first["torch"].checked_at is None
    assert probe_cache.path().is_file()

    again = _heavy(ws, _probe(tmp_path, "second"), reuse=True)
    assert [again[c].detail for c in HEAVY] == ["first torch", "first cuda", "first bf16"]
    assert all(abs(again[c].checked_at - time.time()) < 60 for c in HEAVY)
    assert again["cuda"].status == "warn" and again["cuda"].title == "CUDA available"

    fresh = _heavy(ws, _probe(tmp_path, "asked"), reuse=False)  # `r` and `medtui doctor` always ask torch
    assert fresh["torch"].detail == "asked torch" and fresh["torch"].checked_at is None

    # a variable that steers CUDA, set for medtui's runs, makes the kept answers stale
    runenv.set_var("CUDA_VISIBLE_DEVICES", "1", ws=ws)
    changed = _heavy(ws, _probe(tmp_path, "changed"), reuse=True)
    assert changed["torch"].detail == "changed torch"


def test_old_torn_or_partial_answers_are_not_reused(ws, tmp_path):
    _heavy(ws, _probe(tmp_path, "kept"), reuse=False)
    env = child_env(run_env=True, ws=ws)
    assert probe_cache.load(env, HEAVY) is not None
    assert probe_cache.load(env, HEAVY, now=time.time() + probe_cache.MAX_AGE + 60) is None  # a day old
    assert probe_cache.load(env, HEAVY, now=time.time() - 3600) is None  # from the future: the clock moved

    data = json.loads(probe_cache.path().read_text())
    probe_cache.path().write_text(json.dumps(data)[:40])  # torn
    assert _heavy(ws, _probe(tmp_path, "after-torn"), reuse=True)["torch"].detail == "after-torn torch"

    for bad in ("[]", '{"fingerprint": 1}', '{"checked_at": "x", "fingerprint": "", "results": 3}'):
        probe_cache.path().write_text(bad)
        assert probe_cache.load(env, HEAVY) is None


def test_a_probe_that_does_not_answer_everything_is_not_kept(ws, tmp_path):
    partial = _heavy(ws, _probe(tmp_path, "partial", ids=["torch"], exit_code=3), reuse=True)
    assert partial["cuda"].status == "fail" and "ended early (exit 3)" in partial["cuda"].detail
    assert not probe_cache.path().exists()
    # the next look asks torch again rather than repeating a half answer
    assert _heavy(ws, _probe(tmp_path, "whole"), reuse=True)["bf16"].detail == "whole bf16"


def test_an_unwritable_cache_is_no_error(ws, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    results = _heavy(ws, _probe(tmp_path, "nocache"), reuse=True)
    assert results["bf16"].detail == "nocache bf16"
    assert _heavy(ws, _probe(tmp_path, "nocache2"), reuse=True)["bf16"].detail == "nocache2 bf16"


def test_a_screen_opening_during_the_warm_up_waits_for_its_answers_instead_of_asking_again(ws, tmp_path):
    warm = threading.Thread(target=doctor.warm_up, args=(ws,), kwargs={"argv": _probe(tmp_path, "warm", delay=1.5)})
    warm.start()
    time.sleep(0.3)  # the warm-up's probe is importing "torch"
    start = time.monotonic()
    seen = {r.id: (r, time.monotonic() - start) for r in doctor.iter_checks(
        ws, only=["python", *HEAVY], argv=_probe(tmp_path, "screen"), reuse=True, timeout=30)}
    warm.join()
    assert seen["python"][1] < 1.0  # the quick checks did not wait
    assert seen["torch"][0].detail == "warm torch" and seen["torch"][0].checked_at is not None
    assert not doctor.warm_up(ws, argv=_probe(tmp_path, "again"))  # fresh answers: nothing to ask


def test_the_fingerprint_follows_what_steers_torch_and_nothing_else(ws):
    env = child_env(run_env=True, ws=ws)
    base = probe_cache.fingerprint(env)
    assert probe_cache.fingerprint({**env, "TERM": "dumb", "SSH_CLIENT": "10.0.0.1 5 22"}) == base
    without_medtui = {**env, "PYTHONPATH": env["PYTHONPATH"].replace(PACKAGE_PARENT, "")}
    assert probe_cache.fingerprint(without_medtui) == base  # a clone elsewhere keeps the answers
    for steering in ({"CUDA_VISIBLE_DEVICES": "7,3"}, {"LD_LIBRARY_PATH": "/opt/cuda-x"}, {"USE_TF": "maybe"},
                     {"PYTHONPATH": f"/elsewhere{os.pathsep}{env['PYTHONPATH']}"}):
        assert probe_cache.fingerprint({**env, **steering}) != base, steering
