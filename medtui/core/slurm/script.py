"""The sbatch script of a run: readable, saved in the run folder as ``job.sbatch``, shown in previews.

One Slurm task per node. A run that needs torchrun (several nodes, several GPUs per node,
DeepSpeed or ``force_torchrun``) has every task start one torchrun agent with
``--nnodes=$NNODES --node_rank=$SLURM_PROCID``; the master is the first node of the allocation.
Otherwise the task runs the plan's own command. stdout and stderr go to the run folder, and the
script writes the exit code to ``slurm-exit.json`` there, so the run's end is known after Slurm
forgets the job. Every value from the plan is shell-quoted; the script holds no user text unquoted.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field, fields
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from medtui.core.errors import MedtuiError

SCRIPT_NAME = "job.sbatch"
EXIT_FILE = "slurm-exit.json"
# Set by the script itself (from Slurm's allocation) or meaningless on a cluster: never exported from the plan.
SCRIPT_OWNED_ENV = ("CUDA_VISIBLE_DEVICES", "NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT",
                    "FORCE_TORCHRUN")
_TIME = re.compile(r"^(\d+-\d+(:\d+){0,2}|\d+(:\d+){0,2}|UNLIMITED|INFINITE)$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+(,[A-Za-z0-9_.+-]+)*$")
_TRUE = ("1", "true", "y", "yes")


@dataclass
class SlurmOptions:
    """What to ask Slurm for. ``None`` leaves a choice to the cluster's defaults."""

    nodes: int = 1
    gpus_per_node: int = 0
    partition: str | None = None
    time: str | None = None
    account: str | None = None
    cpus_per_task: int | None = None
    sbatch_args: list[str] = field(default_factory=list)
    grace: float = 120.0  # seconds a graceful stop waits before scancel

    @classmethod
    def from_mapping(cls, data: dict[str, Any], where: str = "slurm options") -> "SlurmOptions":
        """Options from a profile or form values; unknown keys are ignored, bad values raise MedtuiError."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v not in (None, "")}
        opts = cls()
        for key, value in values.items():
            setattr(opts, key, value)
        return opts.checked(where)

    def checked(self, where: str = "slurm options") -> "SlurmOptions":
        """Coerce and validate every field; raises MedtuiError naming the field."""
        self.nodes = _int(self.nodes, "nodes", where, minimum=1)
        self.gpus_per_node = _int(self.gpus_per_node, "gpus_per_node", where, minimum=0)
        if self.cpus_per_task is not None:
            self.cpus_per_task = _int(self.cpus_per_task, "cpus_per_task", where, minimum=1)
        try:
            self.grace = float(self.grace)
        except (TypeError, ValueError):
            raise MedtuiError(f"{where}: grace must be a number of seconds, got {self.grace!r}") from None
        for key in ("partition", "account"):
            value = getattr(self, key)
            if value is not None:
                value = str(value).strip()
                if not _NAME.match(value):
                    raise MedtuiError(f"{where}: {key} {value!r} is not a Slurm name (letters, digits, _ . + -)")
                setattr(self, key, value)
        if self.time is not None:
            self.time = str(self.time).strip()
            if not _TIME.match(self.time):
                raise MedtuiError(f"{where}: time {self.time!r} is not a Slurm time limit "
                                  "(HH:MM:SS, MM, D-HH:MM:SS, ...)")
        if isinstance(self.sbatch_args, str):
            try:
                self.sbatch_args = shlex.split(self.sbatch_args)
            except ValueError as exc:  # an unbalanced quote
                raise MedtuiError(f"{where}: sbatch_args {self.sbatch_args!r} cannot be split into arguments "
                                  f"({exc})") from None
        if not isinstance(self.sbatch_args, list):
            raise MedtuiError(f"{where}: sbatch_args must be a list of arguments")
        for arg in self.sbatch_args:
            if not isinstance(arg, str) or not arg.startswith("-") or "\n" in arg or "\r" in arg:
                raise MedtuiError(f"{where}: sbatch argument {arg!r} must be one option such as --qos=high")
        return self

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _int(value: Any, name: str, where: str, *, minimum: int) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise MedtuiError(f"{where}: {name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise MedtuiError(f"{where}: {name} must be at least {minimum}, got {number}")
    return number


def uses_torchrun(plan, options: SlurmOptions) -> bool:
    """Whether each task starts a torchrun agent (several nodes or GPUs, DeepSpeed, force_torchrun)."""
    if plan.stage == "export":
        return False
    forced = str(plan.env.get("FORCE_TORCHRUN", "")).lower() in _TRUE
    return options.nodes > 1 or options.gpus_per_node > 1 or forced


def llamafactory_launcher() -> str:
    """The path of llamafactory's ``launcher.py`` (what its own torchrun launch runs), found without importing it."""
    spec = find_spec("llamafactory")
    if spec is None or not spec.submodule_search_locations:
        raise MedtuiError("llamafactory is not installed in this Python environment")
    return str(Path(list(spec.submodule_search_locations)[0]) / "launcher.py")


def torchrun_entry(argv: list[str]) -> list[str]:
    """What torchrun runs in each worker for a plan's argv: llamafactory's launcher or medtui's PPO engine."""
    if len(argv) >= 3 and Path(argv[0]).name.startswith("llamafactory-cli") and argv[1] == "train":
        return [llamafactory_launcher(), *argv[2:]]
    if len(argv) >= 3 and argv[1] == "-m":
        return argv[1:]
    raise MedtuiError(f"cannot run {shlex.join(argv[:3])} under torchrun")


def medtui_pythonpath() -> str:
    """The folder that holds this copy of the medtui package (the PPO engine imports it on the nodes)."""
    return str(Path(__file__).resolve().parents[3])


def _pattern(path: Path) -> str:
    """A path as a Slurm file name pattern: ``%`` is doubled so that ``%j`` and friends are not expanded."""
    return str(path).replace("%", "%%")


def _sbatch_lines(plan, options: SlurmOptions) -> list[str]:
    q = shlex.quote
    lines = [
        f"#SBATCH --job-name={q('medtui-' + plan.run_id)}",
        f"#SBATCH --nodes={options.nodes}",
        "#SBATCH --ntasks-per-node=1",
    ]
    if options.gpus_per_node:
        lines.append(f"#SBATCH --gpus-per-node={options.gpus_per_node}")
    if options.cpus_per_task:
        lines.append(f"#SBATCH --cpus-per-task={options.cpus_per_task}")
    if options.partition:
        lines.append(f"#SBATCH --partition={options.partition}")
    if options.time:
        lines.append(f"#SBATCH --time={options.time}")
    if options.account:
        lines.append(f"#SBATCH --account={options.account}")
    lines += [
        f"#SBATCH --chdir={q(str(plan.cwd))}",
        f"#SBATCH --output={q(_pattern(plan.run_dir / 'stdout.log'))}",
        f"#SBATCH --error={q(_pattern(plan.run_dir / 'stderr.log'))}",
        "#SBATCH --open-mode=append",
    ]
    if options.sbatch_args:
        lines.append("# extra sbatch arguments (they come last, so they win over the lines above):")
        lines += [f"#SBATCH {arg}" for arg in options.sbatch_args]
    return lines


def render(plan, options: SlurmOptions, *, python: str | None = None) -> str:
    """The sbatch script for ``plan`` (a :class:`~medtui.core.stages.builder.RunPlan`) on ``options``."""
    q = shlex.quote
    python = python or sys.executable
    torchrun = uses_torchrun(plan, options)
    out = [
        "#!/bin/bash",
        f"# medtui run {plan.run_id} (stage {plan.stage}), submitted to Slurm with: sbatch {SCRIPT_NAME}",
        f"# Follow: medtui logs {plan.run_id} -f    Stop (saves first): medtui stop {plan.run_id}",
        *_sbatch_lines(plan, options),
        "",
        "set -u",
        "# A graceful stop is `scancel --signal=ABRT JOBID`: Slurm signals every process of the job's",
        "# steps and the trainer saves, then stops. This shell (and srun, which inherits it) ignore",
        "# SIGABRT, so a signal sent with --full or --batch cannot end the job before the trainer is done.",
        "trap '' ABRT",
        "",
        f"RUN_DIR={q(str(plan.run_dir))}",
        f"export PYTHONPATH={q(medtui_pythonpath())}${{PYTHONPATH:+:$PYTHONPATH}}",
    ]
    for key, value in plan.env.items():
        if key not in SCRIPT_OWNED_ENV and key != "PYTHONPATH":
            out.append(f"export {key}={q(str(value))}")
    entry = torchrun_entry(plan.argv) if torchrun else None
    out.append("")
    if torchrun:
        out += [
            "# Rendezvous: one torchrun agent per Slurm task (one task per node); the first node is the master.",
            'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
            "export MASTER_PORT=$(( 20000 + SLURM_JOB_ID % 10000 ))",
            "export NNODES=$SLURM_NTASKS",
            f"export NPROC_PER_NODE={max(options.gpus_per_node, 1)}",
            f"export MEDTUI_PYTHON={q(python)}",
            'echo "medtui: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST: $NNODES node(s) x $NPROC_PER_NODE,'
            ' master $MASTER_ADDR:$MASTER_PORT"',
            "",
            "# Each task is one torchrun \"node\" whose rank is its Slurm task number; torchrun (which",
            "# ignores SIGABRT, see above) waits while the workers save on a graceful stop.",
            "srun --kill-on-bad-exit=1 bash -c 'trap \"\" ABRT; exec \"$MEDTUI_PYTHON\" -m torch.distributed.run \\",
            '    --nnodes="$NNODES" --node_rank="$SLURM_PROCID" --nproc_per_node="$NPROC_PER_NODE" \\',
            "    --master_addr=\"$MASTER_ADDR\" --master_port=\"$MASTER_PORT\" \"$@\"' torchrun-task \\",
            f"  {shlex.join(entry)}",
        ]
    else:
        out += [
            'echo "medtui: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST"',
            f"srun --kill-on-bad-exit=1 {shlex.join(plan.argv)}",
        ]
    out += [
        "code=$?",
        "",
        "# The run's own record of how it ended, for when Slurm has forgotten the job.",
        f'printf \'{{"exit_code": %d, "ended": %d, "job_id": "%s"}}\\n\' "$code" "$(date +%s)" "$SLURM_JOB_ID" '
        f'> "$RUN_DIR/{EXIT_FILE}.tmp" && mv -f "$RUN_DIR/{EXIT_FILE}.tmp" "$RUN_DIR/{EXIT_FILE}"',
        'exit "$code"',
        "",
    ]
    return "\n".join(out)
