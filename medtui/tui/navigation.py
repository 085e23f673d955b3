"""The app's screens: the key that opens each one and the registry of screen factories.

``SCREENS`` maps a screen name to a factory called as ``factory(workspace, lang)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from textual.screen import Screen

from medtui.core.workspace import Workspace
from medtui.tui.screens.chat.screen import ChatScreen
from medtui.tui.screens.datasets.screen import DatasetsScreen
from medtui.tui.screens.environment import EnvironmentScreen
from medtui.tui.screens.export import ExportScreen
from medtui.tui.screens.home import HomeScreen
from medtui.tui.screens.models.screen import ModelsScreen
from medtui.tui.screens.runs.screen import RunsScreen
from medtui.tui.screens.train.screen import TrainScreen

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


SCREENS: dict[str, ScreenFactory] = {
    "home": HomeScreen,
    "environment": EnvironmentScreen,
    "models": ModelsScreen,
    "datasets": DatasetsScreen,
    "train": TrainScreen,
    "runs": RunsScreen,
    "chat": ChatScreen,
    "export": ExportScreen,
}
