"""The open TUI's ear for run notifications (:mod:`medtui.core.notify`): a thread receives the
supervisors' datagrams and posts :class:`RunNotice`; the app rings the bell, writes the OSC 777 /
OSC 9 desktop notification through its driver (between frames, never inside one) and shows a toast.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

from textual.message import Message

from medtui.core import notify


class RunNotice(Message):
    """A supervisor's notification: a run ended, or raised an urgent alert."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__()
        self.payload = payload


def listen(app, stop: threading.Event) -> None:
    """Thread body: receive notifications until ``stop`` is set.

    A plain daemon thread, not a Textual worker: it lives as long as the app, and a worker would
    hold a thread of the worker pool for good (and never let ``workers.wait_for_complete`` return).
    """
    try:
        sock, path = notify.listen()
    except OSError:
        return  # no socket (read-only cache folder...): the app works without notifications
    sock.settimeout(0.5)
    try:
        while not stop.is_set():
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            try:
                payload = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(payload, dict):
                app.post_message(RunNotice(payload))
    finally:
        sock.close()
        try:
            path.unlink()
        except OSError:
            pass


def deliver(app, payload: dict[str, Any]) -> None:
    """Bell, desktop notification and toast for ``payload`` (runs on the app's thread)."""
    title, body = str(payload.get("title") or "medtui"), str(payload.get("body") or "")
    sequences = notify.terminal_sequences(title, body, bell=bool(payload.get("bell", True)),
                                          desktop=bool(payload.get("desktop", True)))
    driver = getattr(app, "_driver", None)
    if sequences and driver is not None:
        driver.write(sequences)
        driver.flush()
    status = (payload.get("run") or {}).get("status")
    severity = "error" if payload.get("urgent") or status == "failed" else "information"
    app.notify(body, title=title, severity=severity, timeout=15 if severity == "error" else 8)
