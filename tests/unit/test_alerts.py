"""Live anomaly alerts on log files written as a run writes them (the real NaN run is in
tests/e2e/test_failures_e2e.py)."""

from __future__ import annotations

import json

from medtui.core.runs.alerts import STALL_FLOOR_S, AlertWatcher


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def setup(tmp_path, *, free=10**12, checkpoint=1000):
    run_dir = tmp_path / "run"
    out = tmp_path / "out"
    run_dir.mkdir()
    out.mkdir()
    clock = Clock()
    watcher = AlertWatcher(run_dir, {"output_dir": str(out)}, clock=clock, disk_free=lambda _p: free,
                           checkpoint_bytes=checkpoint)
    return watcher, out / "trainer_log.jsonl", run_dir, clock


def log(path, step, loss, **extra):
    with open(path, "a") as fh:
        fh.write(json.dumps({"current_steps": step, "total_steps": 100, "loss": loss, **extra}) + "\n")


def kinds(alerts):
    return [a["kind"] for a in alerts]


def test_explicit_nan_is_flagged_on_its_line(tmp_path):
    w, path, _, _ = setup(tmp_path)
    log(path, 1, 2.5)
    assert w.poll() == []
    log(path, 2, float("nan"))  # json writes NaN, as llamafactory's trainer_log.jsonl does
    new = w.poll()
    assert kinds(new) == ["nan_loss"] and new[0]["step"] == 2
    log(path, 3, float("nan"))
    assert w.poll()[0]["count"] == 2 and len(w.alerts) == 1


def test_the_collapsed_zero_loss_is_flagged(tmp_path):
    w, path, _, _ = setup(tmp_path)
    log(path, 1, 7.22)
    log(path, 2, 0.0)
    new = w.poll()
    assert kinds(new) == ["nan_loss"] and "logging_nan_inf_filter" in new[0]["message"]


def test_a_genuine_small_loss_is_not_nan(tmp_path):
    w, path, _, _ = setup(tmp_path)
    for step, loss in enumerate([2.0, 1.0, 0.5, 0.2, 0.05, 0.011], start=1):
        log(path, step, loss)
    assert w.poll() == []


def test_loss_spike_against_the_smoothed_loss(tmp_path):
    w, path, _, _ = setup(tmp_path)
    for step, loss in enumerate([2.0, 1.9, 1.8, 1.85], start=1):
        log(path, step, loss)
    assert w.poll() == []
    log(path, 5, 2.4)  # a bump, not a spike
    assert w.poll() == []
    log(path, 6, 7.5)
    new = w.poll()
    assert kinds(new) == ["loss_spike"] and new[0]["step"] == 6 and new[0]["value"] == 7.5


def test_a_stuck_loss(tmp_path):
    w, path, _, _ = setup(tmp_path)
    for step in range(1, 6):
        log(path, step, 7.332369327545166)
    assert kinds(w.poll()) == ["loss_stuck"]


def test_grad_norm_from_the_trainers_printed_dicts(tmp_path):
    w, path, run_dir, _ = setup(tmp_path)
    lines = [f"{{'loss': '2.1', 'grad_norm': '{g}', 'learning_rate': '1e-05', 'epoch': '0.1'}}" for g in
             (1.2, 0.9, 1.1, 1.0)]
    (run_dir / "stdout.log").write_text("\n".join(lines) + "\n")
    assert w.poll() == []
    with open(run_dir / "stdout.log", "a") as fh:
        fh.write(" 40%|████      | 4/10 [00:02<00:03]\r{'loss': '2.3', 'grad_norm': '58.0', 'epoch': '0.2'}\n")
    new = w.poll()
    assert kinds(new) == ["grad_norm"] and new[0]["value"] == 58.0
    with open(run_dir / "stderr.log", "a") as fh:
        fh.write("{'loss': 'nan', 'grad_norm': 'nan', 'epoch': '0.3'}\n")
    assert w.poll()[0]["count"] == 2


def test_a_stalled_run_and_its_recovery(tmp_path):
    w, path, _, clock = setup(tmp_path)
    for step in range(1, 6):
        log(path, step, 2.0 - step / 10)
        w.poll()
        clock.now += 10
    clock.now += STALL_FLOOR_S - 20  # silent, but not yet for 5 x 10 s and the floor
    assert w.poll() == []
    clock.now += 30
    new = w.poll()
    assert kinds(new) == ["stalled"] and "no log line for" in new[0]["message"]
    assert w.poll() == []  # raised once
    log(path, 6, 1.3)
    resumed = w.poll()
    assert kinds(resumed) == ["stalled"] and resumed[0]["resolved"]


def test_free_disk_below_the_next_checkpoint(tmp_path):
    free = {"bytes": 10**9}
    w, path, _, clock = setup(tmp_path, checkpoint=5 * 10**6)
    w._disk_free = lambda _p: free["bytes"]
    assert w.poll() == []
    free["bytes"] = 10**6
    clock.now += 11
    new = w.poll()
    assert kinds(new) == ["disk_low"] and "less than the next checkpoint" in new[0]["message"]
    clock.now += 11
    assert w.poll() == []
    free["bytes"] = 10**9
    clock.now += 11
    assert w.poll()[0].get("resolved")
