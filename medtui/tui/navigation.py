"""The app's screens: the key that opens each one and the registry of screen factories.

``SCREENS`` maps a screen name to a factory called as ``factory(workspace, lang)``. Swapping a
placeholder for the real screen is one line here. The Runs screen is picked up automatically
once ``medtui.tui.screens.runs`` exists.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from textual.screen import Screen

from medtui.core.workspace import Workspace
from medtui.tui.screens.home import HomeScreen
from medtui.tui.screens.placeholders import (
    ChatPlaceholder,
    DatasetsPlaceholder,
    EnvironmentPlaceholder,
    ExportPlaceholder,
    ModelsPlaceholder,
    RunsPlaceholder,
)
from medtui.tui.screens.train import TrainScreen

ScreenFactory = Callable[[Workspace, str], Screen]


@dataclass(frozen=True)
class Destination:
    name: str
    key: str


DESTINATIONS = (
    Destination("home", "f1"),
    Destination("environment", "f2"),
    Destination("models", "f3"),
    Destination("datasets", "f4"),
    Destination("train", "f5"),
    Destination("runs", "f6"),
    Destination("chat", "f7"),
    Destination("export", "f8"),
)


def optional_screen(module: str, name: str, fallback: ScreenFactory) -> ScreenFactory:
    """``module.name`` when that module exists, else ``fallback`` (other errors still raise)."""
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return fallback


SCREENS: dict[str, ScreenFactory] = {
    "home": HomeScreen,
    "environment": EnvironmentPlaceholder,
    "models": ModelsPlaceholder,
    "datasets": DatasetsPlaceholder,
    "train": TrainScreen,
    "runs": optional_screen("medtui.tui.screens.runs", "RunsScreen", RunsPlaceholder),
    "chat": ChatPlaceholder,
    "export": ExportPlaceholder,
}
