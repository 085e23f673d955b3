"""Model and dataset downloads from ModelScope (or, when chosen, the Hugging Face hub).

:func:`make_request` checks the user's input and picks the destination (``models/<name>`` or
``data/<name>``, name = the id's last part). :class:`Download` runs
``python -m medtui.workers.download`` in its own session, reads its JSON events and folds
them into a :class:`DownloadState` (per-file and total bytes, speed, ETA). Cancel terminates
the worker; running the same request again resumes partial files (the SDK sends ``Range``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from medtui.core.env.child import child_env
from medtui.core.errors import MedtuiError

KINDS = ("model", "dataset")
HUBS = ("modelscope", "hf")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class DownloadRequest:
    kind: str
    repo_id: str
    dest: Path
    revision: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    endpoint: str | None = None
    hub: str = "modelscope"

    @property
    def name(self) -> str:
        return self.repo_id.split("/")[-1]

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "repo_id": self.repo_id, "dest": str(self.dest),
                           "revision": self.revision, "include": list(self.include), "exclude": list(self.exclude),
                           "endpoint": self.endpoint, "hub": self.hub})


def default_endpoint(hub: str = "modelscope") -> str | None:
    """The endpoint from the environment (``MODELSCOPE_ENDPOINT`` / ``HF_ENDPOINT``), if any."""
    value = os.environ.get("HF_ENDPOINT" if hub == "hf" else "MODELSCOPE_ENDPOINT", "").strip()
    return value or None


def make_request(ws, kind: str, repo_id: str, *, revision: str | None = None, include=(), exclude=(),
                 endpoint: str | None = None, hub: str = "modelscope") -> DownloadRequest:
    """Validate the user's input; bad input raises MedtuiError with a clear message."""
    if kind not in KINDS:
        raise MedtuiError(f"unknown kind {kind!r}; use model or dataset")
    if hub not in HUBS:
        raise MedtuiError(f"unknown hub {hub!r}; use modelscope or hf")
    repo_id = (repo_id or "").strip().strip("/")
    if repo_id.startswith(("https://", "http://")):
        repo_id = "/".join(repo_id.rstrip("/").removesuffix(".git").split("/")[-2:])
    if not _ID.match(repo_id) or ".." in repo_id:
        raise MedtuiError(f"not a hub id: {repo_id!r}; expected OWNER/NAME, e.g. qwen/Qwen2-0.5B")
    endpoint = (endpoint or "").strip() or default_endpoint(hub)
    if endpoint and not re.match(r"^https?://[^/\s]+", endpoint):
        raise MedtuiError(f"endpoint {endpoint!r} must start with http:// or https://")
    for pattern in (*include, *exclude):
        if not pattern or not pattern.strip():
            raise MedtuiError("an --include/--exclude pattern is empty")
    base = ws.models_dir if kind == "model" else ws.data_dir
    return DownloadRequest(kind, repo_id, base / repo_id.split("/")[-1], (revision or "").strip() or None,
                           tuple(include), tuple(exclude), endpoint.rstrip("/") if endpoint else None, hub)


@dataclass
class FileProgress:
    path: str
    size: int | None
    bytes: int = 0
    complete: bool = False
    skipped: bool = False  # already complete before this run
    active: bool = False

    @property
    def fraction(self) -> float:
        if self.complete:
            return 1.0
        return min(1.0, self.bytes / self.size) if self.size else 0.0


@dataclass
class DownloadState:
    """Everything a progress display needs, folded from the worker's events."""

    request: DownloadRequest | None = None
    files: dict[str, FileProgress] = field(default_factory=dict)
    status: str = "starting"  # starting, listing, downloading, done, failed, cancelled
    message: str = ""
    error_kind: str = ""
    failed: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None
    fresh: int = 0  # bytes received in this run (resume credits excluded)
    _samples: deque = field(default_factory=lambda: deque(maxlen=64))
    window_s: float = 5.0

    @property
    def total(self) -> int:
        return sum(f.size or 0 for f in self.files.values())

    @property
    def done(self) -> int:
        return sum((f.size or 0) if f.complete else f.bytes for f in self.files.values())

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else (1.0 if self.status == "done" else 0.0)

    @property
    def speed(self) -> float:
        """Bytes per second over the last few seconds of fresh bytes."""
        if len(self._samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    @property
    def eta(self) -> float | None:
        speed = self.speed
        if self.status != "downloading" or speed <= 0:
            return None
        return max(0.0, (self.total - self.done) / speed)

    @property
    def to_fetch(self) -> int:
        return sum(1 for f in self.files.values() if not f.skipped)

    def apply(self, event: dict[str, Any], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        kind = event.get("event")
        if kind == "start":
            self.status, self.endpoint = "listing", event.get("endpoint")
        elif kind == "plan":
            self.status = "downloading"
            self.endpoint = event.get("endpoint") or self.endpoint
            for f in event.get("files", []):
                self.files[f["path"]] = FileProgress(f["path"], f.get("size"), complete=bool(f.get("done")),
                                                     skipped=bool(f.get("done")))
            self._samples.append((now, self.fresh))
        elif kind == "file":
            f = self._file(event)
            f.active, f.complete, f.skipped = True, False, False
        elif kind == "progress":
            f = self._file(event)
            new = int(event.get("bytes", 0))
            if not event.get("credit"):
                self.fresh += max(0, new - f.bytes)
            f.bytes = new
            self._sample(now)
        elif kind == "file_done":
            f = self._file(event)
            f.active, f.complete = False, True
            self._sample(now)
        elif kind == "done":
            self.status = "done"
            for f in self.files.values():
                f.complete, f.active = True, False
        elif kind == "error":
            self.status = "cancelled" if event.get("kind") == "cancelled" else "failed"
            self.error_kind = str(event.get("kind", ""))
            self.message = str(event.get("message", ""))
            self.failed = dict(event.get("failed") or {})

    def _file(self, event: dict[str, Any]) -> FileProgress:
        path = event["path"]
        if path not in self.files:
            self.files[path] = FileProgress(path, event.get("size"))
        elif event.get("size") is not None and self.files[path].size is None:
            self.files[path].size = event["size"]
        return self.files[path]

    def _sample(self, now: float) -> None:
        self._samples.append((now, self.fresh))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window_s:
            self._samples.popleft()

    def summary(self) -> str:
        """One line: ``12.3 MiB / 953.2 MiB (1%)  4.1 MiB/s  ETA 3m52s``."""
        parts = [f"{human_bytes(self.done)} / {human_bytes(self.total)} ({self.fraction:.0%})"]
        if self.status == "downloading":
            parts.append(f"{human_bytes(self.speed)}/s")
            eta = self.eta
            parts.append(f"ETA {format_eta(eta)}" if eta is not None else "ETA --")
        return "  ".join(parts)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The download worker's environment (:func:`~medtui.core.env.child.child_env`, quiet ModelScope SDK)."""
    env = child_env()
    env.setdefault("TQDM_DISABLE", "1")
    env.pop("MODELSCOPE_LOG_LEVEL", None)  # the two SDK packages parse it differently; the import crashes
    env.update(extra or {})
    return env


class Download:
    """One running download worker. Iterate :meth:`events`; :meth:`cancel` from any thread."""

    def __init__(self, request: DownloadRequest, *, env: dict[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.request = request
        self.state = DownloadState(request=request)
        self.cancelled = False
        self._clock = clock
        self._stderr = tempfile.TemporaryFile()
        spec = json.dumps({**json.loads(request.to_json()), "parent": os.getpid()})
        self.proc = subprocess.Popen([sys.executable, "-m", "medtui.workers.download", spec],
                                     stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL,
                                     text=True, env=env or worker_env(), start_new_session=True)

    def events(self) -> Iterator[dict[str, Any]]:
        """Each event as the worker prints it, already applied to :attr:`state`; ends when it exits."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(event, dict):
                continue
            self.state.apply(event, self._clock())
            yield event
        code = self.proc.wait()
        if self.cancelled:
            event = {"event": "error", "kind": "cancelled",
                     "message": "cancelled; start the same download again to resume"}
        elif self.state.status not in ("done", "failed", "cancelled"):
            tail = self.stderr_tail()
            event = {"event": "error", "kind": "failed",
                     "message": f"the download process ended unexpectedly (exit {code})" + (f": {tail}" if tail else "")}
        else:
            return
        self.state.apply(event, self._clock())
        yield event

    def cancel(self) -> None:
        """Stop the worker; what it fetched so far stays on disk for a resume."""
        self.cancelled = True
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def kill(self) -> None:
        """SIGKILL, as an interruption would (tests use it to prove resume)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def stderr_tail(self, lines: int = 3) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.cancel()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


def run(request: DownloadRequest, *, on_event: Callable[[DownloadState, dict], None] | None = None,
        env: dict[str, str] | None = None) -> DownloadState:
    """Download in a worker until it ends; Ctrl-C cancels the worker and re-raises."""
    job = Download(request, env=env)
    try:
        for event in job.events():
            if on_event is not None:
                on_event(job.state, event)
    except KeyboardInterrupt:
        job.cancel()
        raise
    finally:
        job.close()
    return job.state
