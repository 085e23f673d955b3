"""The process that babysits one run: ``python -m medtui.core.runs.supervisor RUN_DIR LOCK_FD``.

It leads the run's session and process group, starts the command recorded in ``run.json``
with stdout/stderr going to files, and records how it ended (:func:`medtui.core.runs.states.final_state`:
succeeded, stopped with what was saved, killed, or failed with the exit code or signal). It
ignores the stop signals that the group receives, so it outlives the trainer and can record
how the trainer ended. While it waits, :class:`~medtui.core.runs.oversight.Oversight` raises live
alerts; at the end it adds the diagnosis and sends the notifications. It keeps a small reserve file
so that a disk the run filled still has room for the final record.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from medtui.core.runs.oversight import POLL_S, Oversight
from medtui.core.runs.records import Run, clean_record, read_record, write_record
from medtui.core.runs.states import final_state, stop_mode

RESERVE = ".reserve"
RESERVE_BYTES = 256 * 1024


def _reserve(run_dir: Path) -> Path | None:
    """Hold some blocks of the run's disk, to be given back for the final record if the disk fills."""
    path = run_dir / RESERVE
    try:
        with open(path, "wb") as fh:
            fh.write(b"\0" * RESERVE_BYTES)
            fh.flush()
            os.fsync(fh.fileno())
        return path
    except OSError:
        return None


def write_final(run_dir: Path, record: dict, reserve: Path | None) -> bool:
    """Write the final record; on a full disk, free the reserve and try again. True when written."""
    for attempt in range(2):
        try:
            write_record(run_dir, record)
            return True
        except OSError as exc:
            print(f"supervisor: cannot write the final record ({exc}); attempt {attempt + 1}", file=sys.stderr)
            if reserve is None:
                break
            try:
                reserve.unlink()
            except OSError:
                pass
            reserve = None
    return False


def _kill_tree(child: subprocess.Popen) -> None:
    """SIGKILL the trainer and every process it started, then reap it."""
    import psutil

    try:
        procs = [psutil.Process(child.pid), *psutil.Process(child.pid).children(recursive=True)]
    except psutil.Error:
        procs = []
    for proc in reversed(procs):
        try:
            proc.kill()
        except psutil.Error:
            pass
    child.kill()
    child.wait()


def main(argv: list[str]) -> int:
    run_dir = Path(argv[0])
    lock_fd = int(argv[1]) if len(argv) > 1 else None
    for sig in (signal.SIGABRT, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    record = read_record(run_dir)
    reserve = _reserve(run_dir)
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
            write_final(run_dir, oversight.finish(record, 127), reserve)
            oversight.announce()
            return 127
        record["child_pid"] = child.pid
        try:
            record["child_create_time"] = psutil.Process(child.pid).create_time()
        except psutil.Error:
            pass
        try:
            write_record(run_dir, record)
        except OSError as exc:  # full disk, I/O error: a run nobody could follow or stop is worse than none
            _kill_tree(child)
            record.update(status="failed", ended=time.time(), exit_code=1,
                          error=f"could not record the run's start in run.json ({exc.strerror or exc}); "
                                "the trainer was stopped")
            write_final(run_dir, oversight.finish(record, 1), reserve)
            oversight.announce()
            return 1
        oversight.started(child.pid)
        while True:
            try:
                code = child.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                oversight.tick()
            except InterruptedError:
                continue
    try:
        record = read_record(run_dir)
    except Exception:  # noqa: BLE001 - keep what we know rather than lose the end
        pass
    run = Run(run_dir, clean_record(run_dir, record))
    record.update(ended=time.time(), **final_state(code, stop_mode(run_dir), kind=run.kind,
                                                   output_dir=run.output_dir, started=run.started,
                                                   stderr=run.stderr_path))
    write_final(run_dir, oversight.finish(record, code), reserve)
    if reserve is not None:
        try:
            reserve.unlink()
        except OSError:
            pass
    oversight.announce()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
