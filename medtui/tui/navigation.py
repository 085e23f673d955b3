"""The app's top-level screens: the key that opens each one and where its class lives.

Screens are imported the first time they are opened (``module:Class`` paths), so starting medtui
imports Home only.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from textual.screen import Screen


@dataclass(frozen=True)
class Destination:
    name: str
    key: str
    #: ``module:Class`` of the screen, constructed as ``Class(workspace, lang)``.
    screen: str

    def screen_class(self) -> type[Screen]:
        module, _, cls = self.screen.partition(":")
        return getattr(importlib.import_module(module), cls)


DESTINATIONS = (
    Destination("home", "f1", "medtui.tui.screens.home:HomeScreen"),
    Destination("environment", "f2", "medtui.tui.screens.environment:EnvironmentScreen"),
    Destination("models", "f3", "medtui.tui.screens.models.screen:ModelsScreen"),
    Destination("datasets", "f4", "medtui.tui.screens.datasets.screen:DatasetsScreen"),
    Destination("train", "f5", "medtui.tui.screens.train.screen:TrainScreen"),
    Destination("runs", "f6", "medtui.tui.screens.runs.screen:RunsScreen"),
    Destination("chat", "f7", "medtui.tui.screens.chat.screen:ChatScreen"),
    Destination("export", "f8", "medtui.tui.screens.export:ExportScreen"),
)
BY_NAME = {d.name: d for d in DESTINATIONS}
