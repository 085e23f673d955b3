"""App-wide messages posted by workers; handlers on screens own every state change."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class OverviewReady(Message):
    """Fresh stage summaries for Home (newest replaces older ones in the queue)."""

    def __init__(self, summaries: dict[str, Any], pipeline: Any = None) -> None:
        super().__init__()
        self.summaries = summaries
        self.pipeline = pipeline  # the newest pipeline run (core.lifecycle.overview.PipelineView) or None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, OverviewReady)


class ExportChoices(Message):
    """The alignment branches an export could merge; more than one means Home asks which."""

    def __init__(self, choices: list[str], outputs: dict[str, str] | None = None) -> None:
        super().__init__()
        self.choices = choices
        self.outputs = outputs or {}  # branch -> the output folder it would merge


class PrefillReady(Message):
    """The starting config of a stage's form, wired from earlier outputs."""

    def __init__(self, stage: str, config: dict[str, Any]) -> None:
        super().__init__()
        self.stage = stage
        self.config = config


class QueuePlanned(Message):
    """What queuing the remaining stages would do (or why it cannot)."""

    def __init__(self, pipeline: Any = None, names: list[str] | None = None, busy: str | None = None,
                 error: str | None = None) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.names = names or []
        self.busy = busy
        self.error = error


class QueueEvent(Message):
    """Starting the queued pipeline: ``kind`` is started (``stage`` holds the run id) or failed."""

    def __init__(self, kind: str, pipeline: str, stage: str = "", status: str = "", reason: str = "",
                 count: int = 0) -> None:
        super().__init__()
        self.kind = kind
        self.pipeline = pipeline
        self.stage = stage
        self.status = status
        self.reason = reason
        self.count = count


class StartFailed(Message):
    """Start found problems (validation or pre-flight); nothing was started."""

    def __init__(self, problems: list[Any]) -> None:
        super().__init__()
        self.problems = problems


class RunStarted(Message):
    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id


class Launched(Message):
    """A worker's ``core.launch.try_launch`` finished: ``run`` is the started run, or None with ``reason``."""

    def __init__(self, run: Any, reason: str = "") -> None:
        super().__init__()
        self.run = run
        self.reason = reason
