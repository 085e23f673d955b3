"""The process that babysits one run: ``python -m medtui.core.runs.supervisor RUN_DIR LOCK_FD``.

It leads the run's session and process group, starts the command recorded in ``run.json``
with stdout/stderr going to files, and records the end time, exit code and final status. It
ignores the stop signals that the group receives, so it outlives the trainer and can record
how the trainer ended. While it waits, :class:`~medtui.core.runs.oversight.Oversight` raises live
alerts; at the end it adds the diagnosis and sends the notifications.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from medtui.core.runs.oversight import POLL_S, Oversight
from medtui.core.runs.records import STOP_MARKER, last_error_line, read_record, write_record


def main(argv: list[str]) -> int:
    run_dir = Path(argv[0])
    lock_fd = int(argv[1]) if len(argv) > 1 else None
    for sig in (signal.SIGABRT, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    record = read_record(run_dir)
    import psutil

    record["pid"] = os.getpid()
    record["pid_create_time"] = psutil.Process().create_time()
    env = dict(os.environ)
    env.update(record.get("env") or {})
    pass_fds = (lock_fd,) if lock_fd is not None else ()
    oversight = Oversight(run_dir, record)
    with open(run_dir / "stdout.log", "ab") as out, open(run_dir / "stderr.log", "ab") as err:
        try:
            child = subprocess.Popen(
                record["argv"], cwd=record.get("cwd"), env=env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, pass_fds=pass_fds,
            )  # exec resets our Python-level handlers to the defaults in the child
        except OSError as exc:
            record.update(status="failed", ended=time.time(), exit_code=127,
                          error=f"could not start {record['argv'][0]}: {exc.strerror or exc}")
            write_record(run_dir, oversight.finish(record, 127))
            oversight.announce()
            return 127
        record["child_pid"] = child.pid
        try:
            record["child_create_time"] = psutil.Process(child.pid).create_time()
        except psutil.Error:
            pass
        write_record(run_dir, record)
        oversight.started(child.pid)
        while True:
            try:
                code = child.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                oversight.tick()
            except InterruptedError:
                continue
    record = read_record(run_dir)
    record.update(ended=time.time(), exit_code=code)
    if (run_dir / STOP_MARKER).exists():
        record["status"] = "stopped"
    elif code == 0:
        record["status"] = "succeeded"
    else:
        record["status"] = "failed"
        record["error"] = last_error_line(run_dir / "stderr.log") or f"exit code {code}"
    write_record(run_dir, oversight.finish(record, code))
    oversight.announce()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
