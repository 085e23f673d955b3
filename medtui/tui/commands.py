"""The command palette (ctrl+p): every screen, and actions: a new run of each stage, the latest run,
stop a running run (after a confirmation), open a dataset, Predict, the language, the pipeline.

The workspace's runs and datasets are read in a thread when the palette opens.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, Callable, Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

from medtui.core.stages.spec import STAGES, stage_title
from medtui.tui.i18n import t
from medtui.tui.navigation import DESTINATIONS


def workspace_items(ws: Any) -> tuple[list[tuple[str, str]], list[str]]:
    """(run id, status) newest first, and the registered dataset names (plain Python, for a thread)."""
    from medtui.core.runs.records import list_runs

    runs = [(run.id, run.status) for run in list_runs(ws.runs_dir)]
    registry = ws.registry()
    return runs, ([] if registry.error else registry.names())


class MedtuiCommands(Provider):
    async def startup(self) -> None:
        try:
            self.runs, self.datasets = await asyncio.to_thread(workspace_items, self.app.workspace)
        except OSError:
            self.runs, self.datasets = [], []

    def _commands(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        app = self.app
        lang = getattr(app, "lang", "en")
        for dest in DESTINATIONS:
            title = t("palette.go", lang, title=t(f"title.{dest.name}", lang))
            yield title, partial(app.run_action, f"go('{dest.name}')"), dest.key.upper()
        for stage in STAGES:
            yield (t("palette.new_run", lang, stage=stage, title=stage_title(stage, lang)),
                   partial(app.run_action, f"new_run('{stage}')"), t("palette.new_run.help", lang))
        runs = getattr(self, "runs", [])
        if runs:
            latest = runs[0][0]
            yield (t("palette.latest", lang, run=latest), partial(app.run_action, f"show_run('{latest}')"),
                   t(f"status.{runs[0][1]}", lang))
        for run_id, status in runs:
            if status == "running":
                yield (t("palette.stop", lang, run=run_id), partial(app.run_action, f"stop_run('{run_id}')"),
                       t("palette.stop.help", lang))
        for name in getattr(self, "datasets", []):
            yield (t("palette.dataset", lang, name=name), partial(app.run_action, f"show_dataset({name!r})"),
                   t("title.datasets", lang))
        yield t("palette.predict", lang), partial(app.run_action, "open_predict"), "F9"
        yield t("palette.language", lang), partial(app.run_action, "toggle_language"), t("palette.language.help", lang)
        yield t("palette.pipeline", lang), partial(app.run_action, "queue_pipeline"), t("palette.pipeline.help", lang)

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title, help=help_text)
