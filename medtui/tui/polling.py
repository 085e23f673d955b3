"""Polling that never holds a thread: a timer starts one short thread worker per tick.

Thread workers share the event loop's default executor, which has ``cpu_count + 4`` threads. A
worker that loops forever (``while True: poll(); sleep()``) keeps one of them for good: three run
monitors and the Runs list took all six threads of a 2-core machine, and every later worker (the
third monitor, Home's refresh, Home's Enter) waited forever. A :class:`Poller` holds a thread only
while one read runs, never starts a second read while one is running, and stops with its node.
"""

from __future__ import annotations

from typing import Any, Callable

from medtui.tui.errors import one_line, report


class Poller:
    """Call ``read`` (in a thread; it posts its own messages) every ``interval`` seconds.

    ``active()`` (default: always) says whether a tick should read now, e.g. while the screen is
    shown. A failing read is reported once, and again only when its reason changes.
    """

    def __init__(self, node: Any, interval: float, read: Callable[[], None], *, group: str,
                 active: Callable[[], bool] | None = None) -> None:
        self.node = node
        self.read = read
        self.group = group
        self.active = active
        self.busy = False
        self._last_error: str | None = None
        self.interval = interval
        self.timer = node.set_interval(interval, self.tick)

    def tick(self) -> None:
        """Start a read now, unless one is running or the poller is not active."""
        if self.busy or (self.active is not None and not self.active()):
            return
        self.busy = True
        self.node.run_worker(self._read, thread=True, group=self.group, exit_on_error=False)

    def _read(self) -> None:
        try:
            self.read()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal
            reason = one_line(exc)
            if reason != self._last_error:
                self._last_error = reason
                self.node.app.call_from_thread(report, self.node.app, self.node, self.group, exc)
        else:
            self._last_error = None
        finally:
            self.busy = False

    def set_interval(self, interval: float) -> None:
        """Poll every ``interval`` seconds from now on."""
        self.interval = interval
        self.timer.stop()
        self.timer = self.node.set_interval(interval, self.tick)

    def stop(self) -> None:
        self.timer.stop()
