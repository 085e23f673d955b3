"""Turn a stage config into what actually runs: a YAML file, an argv list and an environment.

The YAML uses absolute paths, so it runs unchanged with ``llamafactory-cli`` anywhere. Launch
settings from the spec (devices, torchrun, Ray, DeepSpeed) become environment variables and
a generated DeepSpeed JSON next to the YAML; they never reach the YAML as unknown keys.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from medtui.core.env.llamafactory_compat import usable_defaults
from medtui.core.env.runenv import load as run_env
from medtui.core.errors import MedtuiError
from medtui.core.runs.plan import CONFIG_NAME, RunPlan
from medtui.core.stages.ppo_support import MEDTUI_ONLY_KEYS, ppo_support
from medtui.core.stages.spec import ARG_BY_NAME, TRAIN_STAGES, defaults_for
from medtui.core.stages.validate import as_bool, normalise, stage_of
from medtui.core.workspace import Workspace

PATH_KEYS = ("dataset_dir", "output_dir", "reward_model", "export_dir", "resume_from_checkpoint")
ENV_NAMES = {
    "devices": "CUDA_VISIBLE_DEVICES",
    "force_torchrun": "FORCE_TORCHRUN",
    "nnodes": "NNODES",
    "node_rank": "NODE_RANK",
    "nproc_per_node": "NPROC_PER_NODE",
    "master_addr": "MASTER_ADDR",
    "master_port": "MASTER_PORT",
    "use_ray": "USE_RAY",
}
#: Inference engines llamafactory's trainer cannot predict with; medtui's engine worker runs them.
ENGINE_BACKENDS = ("vllm", "sglang")
#: The comment line of a saved YAML that keeps medtui's launch settings (see :mod:`medtui.core.stages.saved`).
LAUNCH_PREFIX = "# medtui-launch: "


def new_run_id(stage: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{stage}-{secrets.token_hex(2)}"


def llamafactory_cli() -> str:
    """The llamafactory-cli next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("llamafactory-cli")
    if beside.exists():
        return str(beside)
    return shutil.which("llamafactory-cli") or "llamafactory-cli"


def resolve_model_path(ws: Workspace, value: str) -> str:
    """A local model path becomes absolute; a hub id (``owner/name`` whose owner is no local folder) stays."""
    candidate = ws.resolve(value)
    parts = Path(value).parts
    local = (candidate.exists() or value.startswith((".", "/", "~")) or len(parts) > 2
             or (ws.root / parts[0]).is_dir())
    return str(candidate) if local else value


def resolve_output_dir(ws: Workspace, value: str) -> Path:
    """Relative output folders resolve against the workspace; a bare name goes under saves/."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return p
    if len(p.parts) == 1:
        return ws.saves_dir / p
    return ws.root / p


def deepspeed_config(stage: int, offload: bool) -> dict[str, Any]:
    """A ZeRO-2/3 config in the shape of LLaMA-Factory's examples/deepspeed files."""
    zero: dict[str, Any] = {
        "stage": stage,
        "overlap_comm": False,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
    }
    if stage == 0:
        zero = {"stage": 0}
    elif stage == 2:
        zero.update(allgather_partitions=True, allgather_bucket_size=5e8, reduce_scatter=True, round_robin_gradients=True)
    elif stage == 3:
        zero.update(
            sub_group_size=1e9,
            stage3_prefetch_bucket_size="auto",
            stage3_param_persistence_threshold="auto",
            stage3_max_live_parameters=1e9,
            stage3_max_reuse_distance=1e9,
            stage3_gather_16bit_weights_on_model_save=True,
        )
    if offload and stage > 0:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if stage == 3:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    return {
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "zero_allow_untested_optimizer": True,
        "fp16": {"enabled": "auto", "loss_scale": 0, "loss_scale_window": 1000, "initial_scale_power": 16,
                 "hysteresis": 2, "min_loss_scale": 1},
        "bf16": {"enabled": "auto"},
        "zero_optimization": zero,
    }


def build_plan(config: dict[str, Any], ws: Workspace, *, run_id: str | None = None,
               fill_defaults: bool = True) -> RunPlan:
    """Build the plan for ``config``. Raises MedtuiError when a value cannot be coerced.

    Field validation and pre-flight checks are separate (:mod:`validate`, :mod:`preflight`);
    this only needs values it can put into a YAML.
    """
    values, problems = normalise(config)
    if problems:
        raise MedtuiError("; ".join(str(p) for p in problems))
    stage = stage_of(values)
    method = values.get("finetuning_type") or ARG_BY_NAME["finetuning_type"].default
    run_id = run_id or new_run_id(stage)
    run_dir = ws.runs_dir / run_id

    launch: dict[str, Any] = {}
    env_values: dict[str, Any] = {}
    body: dict[str, Any] = {}
    if stage in TRAIN_STAGES:
        body["stage"] = stage
        body["do_train"] = _flag(values.pop("do_train", True))  # false for a predict-only run
    values.pop("stage", None)
    dropped = _drop_inapplicable(values, stage, method)
    if fill_defaults:
        # A spec default the installed llamafactory does not know would make it refuse the run.
        defaults = usable_defaults(defaults_for(stage, method, values), _command(stage), keep=MEDTUI_ONLY_KEYS)
        for key, default in defaults.items():
            values.setdefault(key, default)
    launch_values = {k: v for k, v in values.items() if k in ARG_BY_NAME and ARG_BY_NAME[k].target != "yaml"}
    for key, value in values.items():
        arg = ARG_BY_NAME.get(key)
        if arg is not None and arg.target == "env":
            env_values[key] = value
        elif arg is not None and arg.target == "launch":
            launch[key] = value
        else:
            body[key] = value

    for key in PATH_KEYS:
        if body.get(key):
            body[key] = str(resolve_output_dir(ws, body[key]) if key == "output_dir" else ws.resolve(body[key]))
    if body.get("model_name_or_path"):
        body["model_name_or_path"] = resolve_model_path(ws, str(body["model_name_or_path"]))
    if body.get("adapter_name_or_path"):
        parts = str(body["adapter_name_or_path"]).split(",")
        body["adapter_name_or_path"] = ",".join(str(ws.resolve(p.strip())) for p in parts if p.strip())
    if stage in TRAIN_STAGES and "dataset_dir" not in body:
        body["dataset_dir"] = str(ws.data_dir)
    if stage in TRAIN_STAGES:
        add_eval_settings(body, stage)

    output_dir = Path(body.get("export_dir") if stage == "export" else body.get("output_dir") or run_dir / "output")

    env: dict[str, str] = run_env(ws)  # user/workspace extras such as USE_TF=0; the stage's own win
    for key, value in env_values.items():
        if value in (None, False):
            continue
        env[ENV_NAMES[key]] = "1" if value is True else str(value)
    deepspeed = None
    if launch.get("deepspeed_stage") is not None:
        deepspeed = deepspeed_config(int(launch["deepspeed_stage"]), bool(launch.get("deepspeed_offload")))
        name = f"ds_z{launch['deepspeed_stage']}{'_offload' if launch.get('deepspeed_offload') else ''}_config.json"
        body["deepspeed"] = str(run_dir / name)
        env["FORCE_TORCHRUN"] = "1"
    if stage in TRAIN_STAGES:
        # LLaMA-Factory's LogCallback: running_log.txt, and SIGABRT saves then stops (graceful stop).
        env["LLAMABOARD_ENABLED"] = "1"
        env["LLAMABOARD_WORKDIR"] = str(output_dir)
    env["PYTHONUNBUFFERED"] = "1"

    argv = [llamafactory_cli(), _command(stage), str(run_dir / CONFIG_NAME)]
    if body.get("do_train") is False and body.get("do_predict") and body.get("infer_backend") in ENGINE_BACKENDS:
        argv = [sys.executable, "-m", "medtui.workers.predict_engine", str(run_dir / CONFIG_NAME)]
    if stage == "ppo":
        support = ppo_support()
        if support.uses_llamafactory:
            for key in MEDTUI_ONLY_KEYS:
                body.pop(key, None)
        argv = support.argv(str(run_dir / CONFIG_NAME), argv[0])
    return RunPlan(run_id=run_id, stage=stage, run_dir=run_dir, yaml_config=body, argv=argv, env=env,
                   cwd=ws.root, output_dir=output_dir, deepspeed=deepspeed, extras=launch, dropped=dropped,
                   launch_values=launch_values)


def _drop_inapplicable(values: dict[str, Any], stage: str, method: str) -> dict[str, str]:
    """Remove known arguments that do not apply to ``stage`` and ``method`` (no LoRA keys on full)."""
    dropped: dict[str, str] = {}
    for key in list(values):
        arg = ARG_BY_NAME.get(key)
        if arg is None or arg.applies(stage, method) or values[key] is None:
            continue
        if stage not in arg.stages:
            dropped[key] = f"applies to {', '.join(arg.stages)} only"
        else:
            dropped[key] = f"applies to finetuning_type {', '.join(arg.methods)} only"
        del values[key]
    return dropped


def add_eval_settings(body: dict[str, Any], stage: str) -> None:
    """Held-out data is evaluated: ``val_size`` > 0 turns on step-wise evaluation, as LlamaBoard does.

    ``eval_strategy: steps`` with ``eval_steps`` = ``save_steps`` and the training batch size for
    evaluation, unless the config sets them itself (``eval_strategy: no`` keeps evaluation off).
    PPO has no evaluation loop.
    """
    try:
        val_size = float(body.get("val_size") or 0)
    except (TypeError, ValueError):
        return
    if stage == "ppo" or val_size <= 1e-6 or body.get("do_train") is False:
        return
    strategy = body.setdefault("eval_strategy", "steps")
    if strategy == "steps":
        body.setdefault("eval_steps", body.get("save_steps") or ARG_BY_NAME["save_steps"].default)
    if strategy != "no":
        body.setdefault("per_device_eval_batch_size", body.get("per_device_train_batch_size")
                        or ARG_BY_NAME["per_device_train_batch_size"].default)


def _command(stage: str) -> str:
    """The llamafactory-cli command whose parser reads a stage's YAML."""
    return "export" if stage == "export" else "train"


def _flag(value: Any) -> Any:
    """A yes/no value as a bool (``"false"`` must not reach llamafactory as a truthy string)."""
    parsed = as_bool(value)
    return value if parsed is None else parsed


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a llamafactory YAML (or JSON) config; bad files raise MedtuiError with the position."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise MedtuiError(f"config file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MedtuiError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise MedtuiError(f"{p}: invalid YAML{where}: {problem}") from None
    if data is None:
        raise MedtuiError(f"{p}: the file is empty")
    if not isinstance(data, dict):
        raise MedtuiError(f"{p}: expected a mapping of argument: value, found {type(data).__name__}")
    for key, value in launch_header(text).items():
        data.setdefault(key, value)
    return data


def launch_header(text: str) -> dict[str, Any]:
    """The launch settings in a saved YAML's leading ``# medtui-launch: {...}`` comment; {} if none."""
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if line.startswith(LAUNCH_PREFIX):
            try:
                data = json.loads(line[len(LAUNCH_PREFIX):])
            except ValueError:
                return {}
            return {k: v for k, v in data.items() if k in ARG_BY_NAME} if isinstance(data, dict) else {}
    return {}
