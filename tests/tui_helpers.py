"""Helpers shared by the TUI tests (not a test module)."""

from __future__ import annotations

import asyncio
import time
from typing import Callable


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Let the app run until ``predicate()`` holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)
    await pilot.pause()


async def type_into(pilot, widget, text: str) -> None:
    """Replace an Input's text by typing, as a user would."""
    widget.focus()
    await pilot.pause()
    await pilot.press("end", "ctrl+u")
    if text:
        await pilot.press(*list(text))
    await asyncio.sleep(0)
    await pilot.pause()
