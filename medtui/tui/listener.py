"""The open TUI's ear for run notifications (:mod:`medtui.core.notify`): a thread receives the
supervisors' datagrams and posts :class:`RunNotice`; the app rings the bell, writes the OSC 777 /
OSC 9 desktop notification through its driver (between frames, never inside one) and shows a toast.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from textual.message import Message
from textual.worker import get_current_worker

from medtui.core import notify


class RunNotice(Message):
    """A supervisor's notification: a run ended, or raised an urgent alert."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__()
        self.payload = payload


def listen(app) -> None:
    """Thread worker body: receive notifications until the worker is cancelled."""
    worker = get_current_worker()
    try:
        sock, path = notify.listen()
    except OSError:
        return  # no socket (read-only cache folder...): the app works without notifications
    sock.settimeout(0.5)
    try:
        while not worker.is_cancelled:
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
