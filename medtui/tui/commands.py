"""The command palette provider: every screen and app action, in the current language."""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

from medtui.tui.i18n import t
from medtui.tui.navigation import DESTINATIONS


class MedtuiCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        app = self.app
        lang = getattr(app, "lang", "en")
        for dest in DESTINATIONS:
            title = t("palette.go", lang, title=t(f"title.{dest.name}", lang))
            yield title, partial(app.run_action, f"go('{dest.name}')"), dest.key.upper()
        yield t("palette.language", lang), partial(app.run_action, "toggle_language"), t("palette.language.help", lang)
        yield t("palette.pipeline", lang), partial(app.run_action, "queue_pipeline"), t("palette.pipeline.help", lang)
        yield t("palette.predict", lang), partial(app.run_action, "open_predict"), "F9"

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title, help=help_text)
