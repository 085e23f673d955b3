"""The base of medtui's screens: workspace, language, header and translated binding labels."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen

from medtui.core.workspace import Workspace
from medtui.tui.i18n import localise_bindings, t


class MedtuiScreen(Screen):
    """A screen constructed as ``XScreen(workspace, lang)``; ``set_lang`` switches its language."""

    #: The i18n key of the screen's title (``title.<NAME>``).
    NAME = ""

    def __init__(self, workspace: Workspace, lang: str = "en") -> None:
        super().__init__()
        self.workspace = workspace
        self.lang = lang
        localise_bindings(self, lang)
        self._apply_title()

    def t(self, key: str, **fmt: Any) -> str:
        return t(key, self.lang, **fmt)

    def _apply_title(self) -> None:
        if self.NAME:
            self.title = self.t(f"title.{self.NAME}")
        self.sub_title = str(self.workspace.root)

    def set_lang(self, lang: str) -> None:
        """Switch this screen's language; subclasses relabel their widgets in :meth:`relabel`."""
        if lang == self.lang:
            return
        self.lang = lang
        localise_bindings(self, lang)
        self._apply_title()
        if self.is_mounted:
            self.relabel()
            self.refresh_bindings()

    def relabel(self) -> None:
        """Update the widgets' text after a language switch."""
