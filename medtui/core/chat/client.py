"""Drive a chat worker process from plain Python (no torch, no llamafactory in this process).

``ChatClient.start()`` spawns ``python -m medtui.workers.chat``; a reader thread turns its
stdout lines into events, another keeps the tail of its stderr for error messages. ``load`` and
``stream`` block the calling thread (the TUI calls them from thread workers); ``stop`` may be
called from any thread. When the worker dies, the pending call raises :class:`WorkerError` with
kind ``crash`` (or ``oom``) and a message built from the exit status and the stderr tail;
``reload()`` starts a fresh worker with the last model.
"""

from __future__ import annotations

import collections
import itertools
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Iterator

from medtui.core.chat import protocol
from medtui.core.env.child import child_env
from medtui.core.errors import MedtuiError

_EXIT = "exit"  # made-up event: the worker's stdout closed


class WorkerError(MedtuiError):
    """A failure reported by (or about) the worker; ``kind`` is one of protocol.ERROR_KINDS."""

    def __init__(self, message: str, kind: str = "generate"):
        super().__init__(message)
        self.kind = kind


class ChatClient:
    """One worker process and the model loaded in it."""

    def __init__(self, *, env: dict[str, str] | None = None, stderr_lines: int = 200):
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=stderr_lines)
        self.loaded: dict[str, Any] | None = None
        self.last_load: dict[str, Any] | None = None
        self.last_done: dict[str, Any] | None = None
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._exit_event: dict[str, Any] | None = None

    # -- process -------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self._exit_event is None

    def start(self, timeout: float = 60.0) -> "ChatClient":
        """Spawn the worker and wait for its ``ready`` event."""
        env = child_env(run_env=True, extra={"TOKENIZERS_PARALLELISM": "false", "PYTHONIOENCODING": "utf-8",
                                             **self.extra_env})
        self.events = queue.Queue()
        self.stderr_tail.clear()
        self._exit_event = None
        self.loaded = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "medtui.workers.chat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, start_new_session=True, close_fds=True,
        )
        proc = self.proc
        threading.Thread(target=self._read_stdout, args=(proc,), daemon=True, name="chat-worker-out").start()
        threading.Thread(target=self._read_stderr, args=(proc,), daemon=True, name="chat-worker-err").start()
        self._wait(None, ("ready",), timeout)
        return self

    def _read_stdout(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                self.events.put(protocol.decode(raw))
            except protocol.ProtocolError:
                self.stderr_tail.append(raw.decode("utf-8", "replace").rstrip())
        code = proc.wait()
        self.events.put({"event": _EXIT, "returncode": code})

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.stderr_tail.append(line)

    def _send(self, message: dict[str, Any]) -> None:
        if not self.alive or self.proc is None or self.proc.stdin is None:
            raise self._crash_error()
        with self._write_lock:
            try:
                self.proc.stdin.write(protocol.encode(message).encode("utf-8"))
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                raise self._crash_error() from None

    def _wait(self, req_id: str | None, names: tuple[str, ...], timeout: float | None) -> dict[str, Any]:
        """The next event named in ``names`` (or an error) for ``req_id``; others are dropped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                raise WorkerError(f"the chat worker did not answer within {timeout:.0f}s", "crash") from None
            name = ev.get("event")
            if name == _EXIT:
                self._exit_event = ev
                raise self._crash_error()
            if req_id is not None and ev.get("id") not in (req_id, None):
                continue  # a late event of an earlier (stopped or abandoned) request
            if name == "error":
                raise WorkerError(str(ev.get("message") or "unknown error"), str(ev.get("kind") or "generate"))
            if name in names:
                return ev

    def _crash_error(self) -> WorkerError:
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
        tail = [ln for ln in self.stderr_tail if ln.strip()]
        hint = _last_error(tail)
        oom = any("out of memory" in ln.lower() or "memoryerror" in ln.lower() for ln in tail[-20:])
        if code is None:
            what = "the chat worker stopped answering"
        elif code < 0:
            name = _signal_name(-code)
            what = f"the chat worker was killed ({name})"
            if -code == signal.SIGKILL:
                what += "; the system kills processes this way when memory runs out"
        else:
            what = f"the chat worker exited unexpectedly (exit code {code})"
        if oom:
            what += " - out of memory"
        message = what + (f": {hint}" if hint else "") + "."
        self.loaded = None
        return WorkerError(message, "oom" if oom else "crash")

    # -- requests ------------------------------------------------------------------------------
    def load(self, model: str, adapters: list[str] | tuple[str, ...] = (), template: str | None = None, *,
             backend: str = "auto", infer: dict[str, Any] | None = None, timeout: float | None = None
             ) -> dict[str, Any]:
        """Load a model (replacing the current one); returns the ``loaded`` event."""
        if not self.alive:
            self.start()
        self.last_load = {"model": model, "adapters": list(adapters), "template": template, "backend": backend,
                          "infer": dict(infer or {})}
        req_id = self._next_id()
        self.loaded = None
        self._send(protocol.request("load", req_id, **self.last_load))
        ev = self._wait(req_id, ("loaded",), timeout)
        self.loaded = ev
        return ev

    def stream(self, messages: list[dict[str, str]], system: str | None = None, gen: dict[str, Any] | None = None,
               *, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield ``delta`` events, then the ``done`` event (also kept as ``last_done``).

        ``timeout`` bounds the wait for each event. Closing the iterator early stops the generation.
        """
        req_id = self._next_id()
        self.last_done = None
        self._send(protocol.request("chat", req_id, messages=messages, system=system, gen=dict(gen or {})))
        finished = False
        try:
            while True:
                ev = self._wait(req_id, ("delta", "done"), timeout)
                if ev["event"] == "done":
                    finished = True
                    self.last_done = ev
                    yield ev
                    return
                yield ev
        finally:
            if not finished and self.alive:
                self.stop()

    def reply(self, messages: list[dict[str, str]], system: str | None = None, gen: dict[str, Any] | None = None,
              *, timeout: float | None = None) -> str:
        """The whole reply as one string."""
        return "".join(ev.get("text", "") for ev in self.stream(messages, system, gen, timeout=timeout)
                       if ev["event"] == "delta")

    def stop(self) -> None:
        """Stop the generation in progress; the stream ends with ``done`` (stopped true)."""
        if self.alive:
            try:
                self._send(protocol.request("stop"))
            except WorkerError:
                pass

    def unload(self, timeout: float | None = 60.0) -> None:
        if not self.alive:
            self.loaded = None
            return
        req_id = self._next_id()
        self._send(protocol.request("unload", req_id))
        self._wait(req_id, ("unloaded",), timeout)
        self.loaded = None

    def reload(self, timeout: float | None = None) -> dict[str, Any]:
        """Start a fresh worker and load the last model again (after a crash, or to recover memory)."""
        if self.last_load is None:
            raise WorkerError("nothing to reload: no model was loaded yet", "not_loaded")
        spec = dict(self.last_load)
        self.close()
        self.start()
        return self.load(spec.pop("model"), timeout=timeout, **spec)

    def close(self, timeout: float = 5.0) -> None:
        """Ask the worker to exit; kill it if it does not."""
        proc, self.proc = self.proc, None
        self.loaded = None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                with self._write_lock:
                    proc.stdin.write(protocol.encode(protocol.request("shutdown")).encode("utf-8"))
                    proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the reader threads end at EOF on their own
        except OSError:
            pass

    def _next_id(self) -> str:
        return str(next(self._ids))

    def __enter__(self) -> "ChatClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _last_error(lines: list[str]) -> str:
    for line in reversed(lines):
        head = line.split(":", 1)[0].strip()
        if head.endswith(("Error", "Exception")):
            return line.strip()
    return ""
