"""Live anomaly alerts while a run trains, found by the supervisor and recorded in ``run.json``.

:class:`AlertWatcher` follows the run's ``trainer_log.jsonl`` and its stdout/stderr (where the
Hugging Face Trainer prints ``grad_norm``) and raises, once per kind (later occurrences count up):

* ``nan_loss``: the loss is NaN or inf, or it collapsed to exactly ``0.0`` after a real value - the
  Trainer's ``logging_nan_inf_filter`` (on by default) logs a window of NaN steps as 0.0;
* ``loss_stuck``: the same loss, to the last bit, several log lines in a row (a dead model);
* ``loss_spike``: the loss is above :data:`SPIKE_FACTOR` times its smoothed value;
* ``grad_norm``: grad_norm is not finite, or above :data:`GRAD_FACTOR` times its running median;
* ``stalled``: no new log line for :data:`STALL_FACTOR` times the median interval between log lines
  (at least :data:`STALL_FLOOR_S`); resolved when a line arrives;
* ``disk_low``: free disk on the output volume is below the next checkpoint's size.

The Monitor shows ``record["alerts"]``; each alert is a dict (``kind``, ``message``, ``step``,
``at``, ``count``, ``last_step``, ``resolved``).
"""

from __future__ import annotations

import ast
import math
import shutil
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from medtui.core.runs.diskplan import estimate, human
from medtui.core.runs.follow import JsonlTail, TextTail

SPIKE_FACTOR = 3.0
SPIKE_MIN_POINTS = 3
EMA_WEIGHT = 0.3
GRAD_FACTOR = 10.0
STUCK_REPEATS = 4
STALL_FACTOR = 5.0
STALL_FLOOR_S = 60.0
DISK_EVERY_S = 10.0
KINDS = ("nan_loss", "loss_stuck", "loss_spike", "grad_norm", "stalled", "disk_low")
#: kinds that deserve a bell: the run is wasting time or about to die
URGENT = ("nan_loss", "stalled", "disk_low")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _number(x: Any) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


class AlertWatcher:
    """Incremental anomaly detection for one run; :meth:`poll` returns the alerts raised or changed."""

    def __init__(self, run_dir: Path, record: dict[str, Any], *, clock: Callable[[], float] = time.time,
                 disk_free: Callable[[Path], int] | None = None, checkpoint_bytes: int | None = None):
        self.run_dir = Path(run_dir)
        self.output_dir = Path(record.get("output_dir") or self.run_dir / "output")
        self.clock = clock
        self.trainer = JsonlTail(self.output_dir / "trainer_log.jsonl")
        self.texts = [TextTail(self.run_dir / "stdout.log"), TextTail(self.run_dir / "stderr.log")]
        self.alerts: list[dict[str, Any]] = list(record.get("alerts") or [])
        self._disk_free = disk_free or _free_bytes
        self._checkpoint = checkpoint_bytes if checkpoint_bytes is not None else _checkpoint_size(record)
        self._ema: float | None = None
        self._losses = 0
        self._last_loss: float | None = None
        self._prev_real: float | None = None
        self._same = 0
        self._grads: list[float] = []
        self._arrivals: list[float] = []
        self._last_line_at: float | None = None
        self._disk_checked = 0.0
        self._step = 0

    # -- bookkeeping ------------------------------------------------------------------------
    def _raise(self, kind: str, message: str, step: int | None, value: Any = None) -> dict[str, Any]:
        now = self.clock()
        for alert in self.alerts:
            if alert["kind"] == kind and not alert.get("resolved"):
                alert["count"] = alert.get("count", 1) + 1
                alert["last_step"], alert["last_at"] = step, now
                return alert
        alert = {"kind": kind, "message": message, "step": step, "at": now, "count": 1}
        if value is not None:
            alert["value"] = value
        self.alerts.append(alert)
        return alert

    def active(self, kind: str) -> dict[str, Any] | None:
        return next((a for a in self.alerts if a["kind"] == kind and not a.get("resolved")), None)

    # -- the checks -------------------------------------------------------------------------
    def poll(self) -> list[dict[str, Any]]:
        """Read what is new and return the alerts raised, counted up or resolved by it."""
        changed: list[dict[str, Any]] = []
        now = self.clock()
        records = self.trainer.read_new()
        for rec in records:
            changed += self._on_record(rec, now)
        for tail in self.texts:
            for line in tail.read_new():
                changed += self._on_text(line)
        if not records:
            changed += self._check_stall(now)
        if now - self._disk_checked >= DISK_EVERY_S:
            self._disk_checked = now
            changed += self._check_disk()
        return _unique(changed)

    def _on_record(self, rec: dict[str, Any], now: float) -> list[dict[str, Any]]:
        out = []
        step = rec.get("current_steps") if isinstance(rec.get("current_steps"), int) else None
        self._step = step or self._step
        if self._last_line_at is not None:
            self._arrivals.append(now - self._last_line_at)
        self._last_line_at = now
        stalled = self.active("stalled")
        if stalled:
            stalled["resolved"] = now
            out.append(stalled)
        if "loss" not in rec:
            return out
        loss = _number(rec["loss"])
        if loss is None:
            return out
        if not math.isfinite(loss):
            out.append(self._raise("nan_loss", f"loss is {loss} at step {step}", step, str(loss)))
        elif loss == 0.0 and self._prev_real is not None and self._prev_real > 0.01:
            out.append(self._raise("nan_loss", f"loss collapsed to 0.0 at step {step} (it was "
                                               f"{self._prev_real:.4g}): the Trainer's logging_nan_inf_filter logs "
                                               f"NaN steps as 0.0", step, 0.0))
        else:
            if loss == self._last_loss:
                self._same += 1
                if self._same + 1 == STUCK_REPEATS:
                    out.append(self._raise("loss_stuck", f"the loss stayed at exactly {loss:.6g} for "
                                                         f"{STUCK_REPEATS} log lines (step {step}): the model may "
                                                         f"have collapsed", step, loss))
            else:
                self._same = 0
            if self._ema is not None and self._losses >= SPIKE_MIN_POINTS and loss > SPIKE_FACTOR * self._ema:
                out.append(self._raise("loss_spike", f"loss {loss:.4g} at step {step} is over "
                                                     f"{SPIKE_FACTOR:g}x its smoothed value {self._ema:.4g}", step,
                                       loss))
            else:
                self._ema = loss if self._ema is None else EMA_WEIGHT * loss + (1 - EMA_WEIGHT) * self._ema
            self._losses += 1
            if loss > 0:
                self._prev_real = loss
        self._last_loss = loss
        return out

    def _on_text(self, line: str) -> list[dict[str, Any]]:
        """The Trainer's log dicts (``{'loss': ..., 'grad_norm': ...}``) printed to stdout/stderr."""
        text = line.rsplit("\r", 1)[-1].strip()
        if not (text.startswith("{") and "'grad_norm'" in text):
            return []
        try:
            values = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return []
        grad = _number(values.get("grad_norm")) if isinstance(values, dict) else None
        if grad is None:
            return []
        if not math.isfinite(grad):
            return [self._raise("grad_norm", f"grad_norm is {grad} near step {self._step}", self._step, str(grad))]
        out = []
        if len(self._grads) >= 3:
            median = statistics.median(self._grads[-50:])
            if median > 0 and grad > GRAD_FACTOR * median:
                out.append(self._raise("grad_norm", f"grad_norm {grad:.4g} near step {self._step} is over "
                                                    f"{GRAD_FACTOR:g}x its running median {median:.4g}",
                                       self._step, grad))
        self._grads.append(grad)
        return out

    def _check_stall(self, now: float) -> list[dict[str, Any]]:
        if self._last_line_at is None or len(self._arrivals) < 3 or self.active("stalled"):
            return []
        median = statistics.median(self._arrivals[-50:])
        limit = max(STALL_FACTOR * median, STALL_FLOOR_S)
        silent = now - self._last_line_at
        if silent < limit:
            return []
        return [self._raise("stalled", f"no log line for {silent:.0f} s after step {self._step} (log lines came "
                                       f"every {median:.1f} s)", self._step, round(silent))]

    def _check_disk(self) -> list[dict[str, Any]]:
        if not self._checkpoint:
            return []
        try:
            free = self._disk_free(self.output_dir)
        except OSError:
            return []
        low = self.active("disk_low")
        if free >= self._checkpoint:
            if low:
                low["resolved"] = self.clock()
                return [low]
            return []
        if low:
            return []
        return [self._raise("disk_low", f"{human(free)} free on the output volume, less than the next checkpoint "
                                        f"(about {human(self._checkpoint)})", self._step, free)]


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for item in items:
        if id(item) not in seen:
            seen.add(id(item))
            out.append(item)
    return out


def _free_bytes(path: Path) -> int:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def _checkpoint_size(record: dict[str, Any]) -> int:
    """One checkpoint of this run (:mod:`medtui.core.runs.diskplan`); 0 when it saves none or is no training."""
    config = record.get("config") or {}
    if record.get("kind") not in (None, "train") or config.get("do_train") is False:
        return 0
    if str(config.get("save_strategy") or "steps").lower() == "no":
        return 0
    try:
        return estimate(config, None).checkpoint
    except (OSError, ValueError, TypeError):
        return 0
