"""What the supervisor does besides waiting for the trainer: live alerts while it runs, then the
diagnosis of a bad end and the notifications. Kept apart so :mod:`medtui.core.runs.supervisor`
stays a few calls; nothing here may break a run, so every step logs its own errors and goes on.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path
from typing import Any

from medtui.core import notify
from medtui.core.runs import oomkill
from medtui.core.runs.alerts import URGENT, AlertWatcher
from medtui.core.runs.diagnosis import diagnose_run, signal_name
from medtui.core.runs.records import read_record, write_record

POLL_S = 0.25  # a poll is a few stat calls; NaN must be flagged within a log line or two
PIDS_EVERY_S = 5.0


def _logged(what: str) -> None:
    print(f"medtui supervisor: {what} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)


class Oversight:
    def __init__(self, run_dir: Path, record: dict[str, Any]):
        self.run_dir = Path(run_dir)
        self.watcher = AlertWatcher(self.run_dir, record)
        self.oom_before = oomkill.counters()
        self.since = oomkill.uptime()
        self.pids: set[int] = set()
        self._pids_at = 0.0

    def started(self, pid: int) -> None:
        self.pids.add(pid)

    def tick(self) -> None:
        """Read new log lines; record and announce new alerts; note the trainer's processes."""
        try:
            changed = self.watcher.poll()
            if changed:
                record = read_record(self.run_dir)
                record["alerts"] = self.watcher.alerts
                write_record(self.run_dir, record)
                for alert in changed:
                    if alert["kind"] in URGENT and alert.get("count") == 1 and not alert.get("resolved"):
                        notify.alert_raised(record, alert)
        except Exception:  # noqa: BLE001 - alerts must never stop the supervisor
            _logged("live alerts")
        if time.monotonic() - self._pids_at >= PIDS_EVERY_S:
            self._pids_at = time.monotonic()
            self._note_descendants()

    def _note_descendants(self) -> None:
        import psutil

        for pid in list(self.pids):
            try:
                self.pids.update(p.pid for p in psutil.Process(pid).children(recursive=True))
            except psutil.Error:
                continue

    def finish(self, record: dict[str, Any], code: int | None) -> dict[str, Any]:
        """Add the last alerts and, unless the user stopped it, the diagnosis to the final ``record``."""
        try:
            self.watcher.poll()
            if self.watcher.alerts:
                record["alerts"] = self.watcher.alerts
        except Exception:  # noqa: BLE001
            _logged("live alerts")
        if record.get("status") in ("stopped", "killed"):  # the user asked for it: nothing to diagnose
            return record
        try:
            evidence = oomkill.evidence(self.oom_before, self.pids, self.since) \
                if signal_name(code) == "SIGKILL" or code == 1 else []
            diagnosis = diagnose_run(self.run_dir, record, code, evidence)
            if diagnosis:
                record["diagnosis"] = diagnosis
        except Exception:  # noqa: BLE001
            _logged("diagnosis")
        return record

    def announce(self) -> None:
        """Notify once about the final record (open TUIs, the user's hook) and note what was done."""
        try:
            record = read_record(self.run_dir)
            if record.get("notified"):
                return
            record["notified"] = notify.run_ended(record)
            fresh = read_record(self.run_dir)
            fresh["notified"] = record["notified"]
            write_record(self.run_dir, fresh)
        except Exception:  # noqa: BLE001
            _logged("notification")
