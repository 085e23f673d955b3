"""Plan, check and start a stage: the one path the CLI, the TUI and pipelines all take.

``launch_on: slurm`` (the CLI's ``--slurm``, the Train form's "Launch on") sends the run to the
Slurm backend with options from the cluster profile and the run's ``slurm_*`` values; otherwise
it starts on this machine. Either way the run goes through :mod:`medtui.core.runs.backend`.
"""

from __future__ import annotations

import json
from typing import Any

from medtui.core.errors import MedtuiError
from medtui.core.runs import backend
from medtui.core.runs.plan import RunPlan
from medtui.core.runs.records import Run
from medtui.core.slurm import profile
from medtui.core.slurm.script import SCRIPT_NAME, SlurmOptions, render
from medtui.core.stages import preflight, slurm_checks
from medtui.core.stages.builder import build_plan
from medtui.core.stages.validate import Problem
from medtui.core.workspace import Workspace

SLURM_PREFIX = "slurm_"


class PreflightFailed(MedtuiError):
    """The pre-flight checks found errors; ``problems`` has them all, warnings included."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("pre-flight checks failed:\n" + preflight.format_problems(problems))


def backend_name(plan: RunPlan) -> str:
    """``slurm`` when the plan asks for it (``launch_on: slurm``), else ``local``."""
    return "slurm" if plan.extras.get("launch_on") == "slurm" else "local"


def slurm_options(plan: RunPlan, ws: Workspace) -> SlurmOptions:
    """The cluster profile overlaid with the plan's ``slurm_*`` values. Raises MedtuiError on a bad value."""
    overrides = {k[len(SLURM_PREFIX):]: v for k, v in plan.extras.items() if k.startswith(SLURM_PREFIX)}
    return profile.options_for(ws, overrides)


def prepare(config: dict[str, Any], ws: Workspace, env: preflight.Environment | None = None, *,
            run_id: str | None = None) -> tuple[RunPlan, list[Problem]]:
    plan = build_plan(config, ws, run_id=run_id)
    problems = preflight.check(plan, ws, env)
    if backend_name(plan) == "slurm":
        try:
            problems += slurm_checks.check(plan, slurm_options(plan, ws))
        except MedtuiError as exc:
            problems.append(Problem("launch_on", str(exc)))
    return plan, problems


def preview(plan: RunPlan, ws: Workspace) -> str:
    """What will run: the command and YAML, and for Slurm the sbatch script that will be submitted."""
    if backend_name(plan) != "slurm":
        return plan.preview()
    try:
        script = render(plan, slurm_options(plan, ws))
    except MedtuiError as exc:
        script = f"# cannot be written: {exc}\n"
    parts = [f"# sbatch {plan.run_dir / SCRIPT_NAME}", script, f"# {plan.yaml_path}", plan.yaml_text()]
    if plan.deepspeed is not None:
        parts += [f"# {plan.deepspeed_path}", json.dumps(plan.deepspeed, indent=2)]
    return "\n".join(parts)


def start(plan: RunPlan, ws: Workspace, *, pipeline: str | None = None,
          extra: dict[str, Any] | None = None) -> Run:
    """Start a checked plan on its backend."""
    name = backend_name(plan)
    options = slurm_options(plan, ws) if name == "slurm" else None
    return backend.start(plan, ws, kind=plan.kind, pipeline=pipeline, backend=name, options=options,
                         extra=extra)


def launch(config: dict[str, Any], ws: Workspace, *, pipeline: str | None = None,
           env: preflight.Environment | None = None, run_id: str | None = None,
           extra: dict[str, Any] | None = None) -> Run:
    """Start ``config`` if it passes pre-flight; raise :class:`PreflightFailed` otherwise.

    ``run_id`` lets the TUI start exactly the plan it previewed (its YAML path is in the argv);
    ``extra`` keys go into its run.json (a pipeline stage's name and identity, a resume's origin).
    """
    plan, problems = prepare(config, ws, env, run_id=run_id)
    if preflight.errors(problems):
        raise PreflightFailed(problems)
    return start(plan, ws, pipeline=pipeline, extra=extra)


def try_launch(config: dict[str, Any], ws: Workspace, **kwargs: Any) -> tuple[Run | None, str]:
    """:func:`launch`, with a refusal turned into its message (the errors, one per line)."""
    try:
        return launch(config, ws, **kwargs), ""
    except PreflightFailed as exc:
        return None, "\n".join(str(p) for p in exc.problems if p.level == "error")
    except MedtuiError as exc:
        return None, str(exc)


def resume(run: Run, ws: Workspace, *, checkpoint: str | None = None, overrides: dict[str, Any] | None = None,
           env: preflight.Environment | None = None) -> Run:
    """Continue ``run`` from a checkpoint as a new run (pre-flight first).

    Raises :class:`~medtui.core.runs.resume.ResumeRefused` (with the reason) or :class:`PreflightFailed`.
    """
    from medtui.core.runs.resume import ResumeRefused, pick_checkpoint, resume_config, resume_extra, resume_refusal

    why = resume_refusal(run)
    if why:
        raise ResumeRefused(why)
    ckpt = pick_checkpoint(run, checkpoint)
    return launch(resume_config(run, ckpt, overrides), ws, env=env, pipeline=run.record.get("pipeline"),
                  extra=resume_extra(run, ckpt))
