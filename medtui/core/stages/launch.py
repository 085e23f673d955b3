"""Plan, check and start a stage: the one path the CLI, the TUI and pipelines all take."""

from __future__ import annotations

from typing import Any

from medtui.core.errors import MedtuiError
from medtui.core.runs import runner
from medtui.core.runs.plan import RunPlan
from medtui.core.runs.records import Run
from medtui.core.stages import preflight
from medtui.core.stages.builder import build_plan
from medtui.core.stages.validate import Problem
from medtui.core.workspace import Workspace


class PreflightFailed(MedtuiError):
    """The pre-flight checks found errors; ``problems`` has them all, warnings included."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("pre-flight checks failed:\n" + preflight.format_problems(problems))


def prepare(config: dict[str, Any], ws: Workspace, env: preflight.Environment | None = None, *,
            run_id: str | None = None) -> tuple[RunPlan, list[Problem]]:
    plan = build_plan(config, ws, run_id=run_id)
    return plan, preflight.check(plan, ws, env)


def launch(config: dict[str, Any], ws: Workspace, *, pipeline: str | None = None,
           env: preflight.Environment | None = None, run_id: str | None = None) -> Run:
    """Start ``config`` if it passes pre-flight; raise :class:`PreflightFailed` otherwise.

    ``run_id`` lets the TUI start exactly the plan it previewed (its YAML path is in the argv).
    """
    plan, problems = prepare(config, ws, env, run_id=run_id)
    if preflight.errors(problems):
        raise PreflightFailed(problems)
    return runner.start(plan, ws, kind=plan.kind, pipeline=pipeline)


def try_launch(config: dict[str, Any], ws: Workspace, **kwargs: Any) -> tuple[Run | None, str]:
    """:func:`launch`, with a refusal turned into its message (the errors, one per line)."""
    try:
        return launch(config, ws, **kwargs), ""
    except PreflightFailed as exc:
        return None, "\n".join(str(p) for p in exc.problems if p.level == "error")
    except MedtuiError as exc:
        return None, str(exc)
