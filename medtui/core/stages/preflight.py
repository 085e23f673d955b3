"""Pre-flight checks: everything that can be known before a run starts.

Each rule returns :class:`~medtui.core.stages.validate.Problem` items tied to a field, so the CLI prints
them (exit 2) and the TUI shows them next to that field. The checks read files and, for the
pt packing rule, count tokens in a subprocess; they never import torch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from medtui.core.data.files import DataFileError
from medtui.core.data.fit import dataset_problem
from medtui.core.data.reader import count_records, iter_records
from medtui.core.data.registry import SOURCE_KEYS
from medtui.core.data.sample import FULL_BYTES
from medtui.core.data.shape import entry_problems
from medtui.core.data.validation import validate_sample
from medtui.core.env import llamafactory_source as lfs
from medtui.core.env.child import child_env
from medtui.core.env.gpu import snapshot
from medtui.core.env.llamafactory_compat import accepts
from medtui.core.runs.diskplan import estimate, human
from medtui.core.runs.plan import RunPlan
from medtui.core.runs.records import list_runs
from medtui.core.stages.ppo_support import MEDTUI_ONLY_KEYS, ppo_support
from medtui.core.stages.validate import Problem, validate
from medtui.core.workspace import Workspace

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors", "adapter_model.bin",
                "model.safetensors.index.json", "pytorch_model.bin.index.json")
VALUE_HEAD_FILES = ("value_head.safetensors", "value_head.bin")


@dataclass
class Environment:
    """What the checks need from the machine; tests pass their own."""

    disk_free: Callable[[Path], int] = field(default=lambda p: shutil.disk_usage(_existing(p)).free)
    bf16_support: Callable[[], tuple[bool, str]] = field(default=lambda: _bf16_support())
    count_tokens: Callable[[str, Path, str], int | None] = field(default=lambda m, f, c: _count_tokens(m, f, c))
    #: the GPUs' free memory (NVML); ``devices`` is the number the run uses, None for all visible
    gpu_facts: Callable[[int | None], Any] = field(default=lambda devices: _gpu_facts(devices))


def _gpu_facts(devices: int | None):
    from medtui.core.estimate import gpu_facts

    return gpu_facts(gpus=devices)


def _existing(path: Path) -> Path:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _bf16_support() -> tuple[bool, str]:
    snap = snapshot()
    if not snap.gpus:
        return False, f"{snap.reason or 'no GPU visible'}; bf16 needs an Ampere (compute capability 8.0) or newer GPU"
    old = [g for g in snap.gpus if not g.bf16]
    if old:
        names = ", ".join(f"GPU {g.index} {g.name} (cc {g.compute_capability})" for g in old)
        return False, f"{names} cannot run bf16; use fp16 instead"
    return True, ""


def _count_tokens(model: str, data: Path, column: str) -> int | None:
    try:
        proc = subprocess.run([sys.executable, "-m", "medtui.workers.tokcount", model, str(data), column],
                              capture_output=True, text=True, timeout=120, env=child_env(run_env=True))
        if proc.returncode == 0:
            return int(json.loads(proc.stdout.strip().splitlines()[-1])["tokens"])
    except (subprocess.TimeoutExpired, ValueError, KeyError, IndexError, OSError):
        pass
    return None


def _has_weights(folder: Path) -> bool:
    return any((folder / name).exists() for name in WEIGHT_FILES)


def check(plan: RunPlan, ws: Workspace, env: Environment | None = None) -> list[Problem]:
    """All problems with ``plan``; an empty list means it may start."""
    env = env or Environment()
    cfg = plan.yaml_config
    problems = validate({**cfg, "stage": plan.stage} if plan.stage != "export" else cfg)
    if any(p.level == "error" for p in problems):
        return problems
    problems += check_arguments(plan)
    problems += _check_model(cfg)
    if plan.stage == "export":
        problems += _check_export(cfg)
        return problems
    records = None
    data_problems, records = _check_datasets(plan.stage, cfg, ws, env)
    problems += data_problems
    problems += _check_precision(cfg, env)
    problems += _check_output(plan, cfg)
    if cfg.get("do_predict") and cfg.get("predict_with_generate"):
        problems += _check_metrics_deps()
    if cfg.get("infer_backend") in ("vllm", "sglang"):
        problems += _check_engine(str(cfg["infer_backend"]))
    if cfg.get("do_train") is False:
        return problems  # predict-only: no checkpoints to make room for
    if plan.stage == "ppo":
        problems += _check_reward_model(cfg, ws)
        problems += _check_ppo_settings(cfg, records)
    problems += _check_disk(plan, cfg, records, env)
    problems += _check_memory(plan, ws, records, env)
    return problems


def check_arguments(plan: RunPlan) -> list[Problem]:
    """Every YAML key is one the installed llamafactory's parser accepts, and the template is one it
    registers (read from its sources, :mod:`medtui.core.env.llamafactory_source`); else "did you mean"."""
    command = "export" if plan.stage == "export" else "train"
    try:
        facts = lfs.facts()  # one read: names only (argument_fields() would build Field objects)
    except lfs.SourceUnavailable as exc:
        return [Problem("", f"argument names and templates not checked: {exc}", level="warn")]
    fields, names, version = facts["commands"][command], facts["templates"], facts["version"]
    if accepts("model_name_or_path", command) is None:  # a parser layout medtui cannot read with confidence
        return [Problem("", f"argument names not checked: llamafactory {version}'s argument lists were not "
                            "found where medtui looks", level="warn")]
    out: list[Problem] = []
    allowed = set(fields)
    if plan.stage == "ppo" and not ppo_support().uses_llamafactory:
        allowed.update(MEDTUI_ONLY_KEYS)
    if str(plan.env.get("ALLOW_EXTRA_ARGS", "")).lower() not in ("1", "true", "y"):
        for key in plan.yaml_config:
            if key not in allowed:
                out.append(Problem(key, f"llamafactory {version} ({command}) has no argument {key!r}{_did_you_mean(key, allowed)}"))
    template = plan.yaml_config.get("template")
    if template is not None and str(template) not in names:
        out.append(Problem("template", f"llamafactory {version} has no template {str(template)!r}"
                                       f"{_did_you_mean(str(template), names)} ({len(names)} templates, e.g. "
                                       f"{', '.join(n for n in ('default', 'qwen', 'llama3', 'empty') if n in names)})"))
    return out


def _did_you_mean(name: str, candidates) -> str:
    close = lfs.suggest(name, candidates)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _check_model(cfg: dict[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    model = str(cfg.get("model_name_or_path", ""))
    path = Path(model)
    if path.is_absolute():
        if not path.is_dir():
            out.append(Problem("model_name_or_path", f"model folder not found: {model}"))
        elif not (path / "config.json").is_file():
            out.append(Problem("model_name_or_path", f"{model} has no config.json; is it a model folder?"))
    else:
        out.append(Problem("model_name_or_path", f"{model!r} is not a local folder; llamafactory will try to "
                                                 f"download it from a hub", level="warn"))
    for adapter in filter(None, str(cfg.get("adapter_name_or_path") or "").split(",")):
        if not (Path(adapter) / "adapter_config.json").is_file():
            out.append(Problem("adapter_name_or_path", f"no LoRA adapter (adapter_config.json) in {adapter}"))
    return out


def folder_problem(key: str, folder: Path) -> list[Problem]:
    """An output folder that is a file, lies under a file, or cannot be written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return [Problem(key, f"{folder} is a file, not a folder; choose another {key}")]
    base = folder
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        return [Problem(key, f"{folder} cannot be created: {base} is a file")]
    import os

    if not os.access(base, os.W_OK | os.X_OK):
        return [Problem(key, f"{folder} cannot be written: {base} is read-only")]
    return []


def _check_export(cfg: dict[str, Any]) -> list[Problem]:
    export_dir = Path(str(cfg.get("export_dir")))
    bad = folder_problem("export_dir", export_dir)
    if bad:
        return bad
    if export_dir.is_dir() and _has_weights(export_dir):
        return [Problem("export_dir", f"{export_dir} already holds an exported model; choose another folder")]
    return []


def _check_datasets(stage: str, cfg: dict[str, Any], ws: Workspace, env: Environment
                    ) -> tuple[list[Problem], int | None]:
    out: list[Problem] = []
    registry = ws.registry(cfg.get("dataset_dir"))
    if registry.error:
        return [Problem("dataset_dir", registry.error)], None
    if not registry.path.exists():
        return [Problem("dataset_dir", f"no dataset_info.json in {registry.path.parent}")], None
    total_records: int | None = 0
    fields: dict[str, str] = {}  # dataset name -> the field that names it
    for key in ("dataset", "eval_dataset"):
        for name in filter(None, (n.strip() for n in str(cfg.get(key) or "").split(","))):
            fields.setdefault(name, key)
    for name, key in fields.items():
        if name not in registry:
            out.append(Problem(key, f"dataset {name!r} is not registered in {registry.path}"))
            total_records = None
            continue
        entry = registry.get(name)
        misfit = dataset_problem(stage, name, entry)
        if misfit:
            out.append(Problem(key, misfit))
        shape = entry_problems(entry)
        out += [Problem(key, f"{name}: {message}", level=level) for level, message in shape]
        if not isinstance(entry, dict) or any(level == "error" for level, _ in shape):
            total_records = None
            continue
        columns = entry.get("columns") or {}
        file = registry.data_file(name)
        if file is None:
            if not any(entry.get(k) for k in SOURCE_KEYS):
                out.append(Problem(key, f"{name}: the entry names no file_name or hub source"))
            total_records = None
            continue
        if not file.exists():
            out.append(Problem(key, f"{name}: data file not found: {file}"))
            total_records = None
            continue
        report, sampled = validate_sample(file, entry, stage, name=name, fit=False)
        for finding in report.findings:
            if finding.level in ("error", "warn") and finding.kind != "entry":
                out.append(Problem(key, f"{name}: {finding.text()}", level=finding.level))
        if not report.ok:
            total_records = None
            continue
        first = sampled[:3]
        if stage == "pt":
            out += _check_pt(name, entry, columns, file, first, cfg, env)
        if total_records is not None:
            total_records += _record_count(file, cfg, sampled)
    return out, total_records


def _record_count(file: Path, cfg: dict[str, Any], sampled: list[dict]) -> int:
    """Records in a dataset: counted below :data:`~medtui.core.data.sample.FULL_BYTES`, else estimated
    from the size and the sampled records' mean length (counting 300 MB would take seconds)."""
    limit = int(cfg.get("max_samples") or 0) or None
    size = sum(f.stat().st_size for f in ([file] if file.is_file() else file.rglob("*")) if f.is_file())
    if size > FULL_BYTES:
        mean = sum(len(json.dumps(r, ensure_ascii=False).encode()) + 2 for r in sampled) / max(len(sampled), 1)
        n = max(1, int(size / max(mean, 1)))
    else:
        try:
            n = count_records(file)
        except DataFileError:
            n = 0
    return min(n, limit) if limit else n


def _check_pt(name: str, entry: dict, columns: dict, file: Path, first: list[dict], cfg: dict[str, Any],
              env: Environment) -> list[Problem]:
    column = columns.get("prompt", "instruction")
    if (entry.get("formatting") or "alpaca") != "alpaca" or not first or not isinstance(first[0].get(column), str):
        return [Problem("dataset", f"{name}: pre-training needs a text column; map columns.prompt to it "
                                   f"(found keys: {', '.join(first[0]) if first else 'no records'})")]
    packing = cfg.get("packing")
    if packing is False:
        return []
    cutoff = int(cfg.get("cutoff_len") or 2048)
    model = str(cfg.get("model_name_or_path"))
    tokens = env.count_tokens(model, file, column) if Path(model).is_dir() else None
    how = "tokens"
    if tokens is None:
        tokens = sum(len(v) for r in _all(file) if isinstance(r, dict) and isinstance(v := r.get(column), str))
        how = "tokens (estimated from characters)"
    if tokens < cutoff:
        return [Problem("cutoff_len", f"{name} has only {tokens} {how} but packing makes blocks of cutoff_len="
                                      f"{cutoff}; llamafactory would stop with 'Cannot find sufficient samples'. "
                                      f"Lower cutoff_len below {tokens} or add data")]
    return []


def _all(file: Path):
    try:
        yield from iter_records(file)
    except DataFileError:
        return


METRICS_MODULES = ("jieba", "nltk", "rouge_chinese")


def _check_metrics_deps() -> list[Problem]:
    """BLEU-4/ROUGE need llamafactory's metrics dependencies (the ``metrics`` extra)."""
    import importlib.util

    missing = [m for m in METRICS_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        return [Problem("predict_with_generate", f"BLEU-4 and ROUGE need {', '.join(missing)}; install them with: "
                                                 f"pip install 'medtui[metrics]'")]
    return []


def _check_engine(backend: str) -> list[Problem]:
    """vllm and sglang are optional installs that need a CUDA GPU."""
    import importlib.util

    if importlib.util.find_spec(backend) is None:
        extra = "sglang[all]" if backend == "sglang" else backend
        return [Problem("infer_backend", f"{backend} is not installed (pip install {extra}; it needs a CUDA GPU); "
                                         f"or predict with huggingface")]
    return []


def _check_precision(cfg: dict[str, Any], env: Environment) -> list[Problem]:
    if cfg.get("bf16") is True:
        ok, why = env.bf16_support()
        if not ok:
            return [Problem("bf16", f"bf16 is not supported here: {why}. Set bf16 false (CPU trains in fp32)")]
    return []


def _check_output(plan: RunPlan, cfg: dict[str, Any]) -> list[Problem]:
    out_dir = plan.output_dir
    bad = folder_problem("output_dir", out_dir)
    if bad:
        return bad
    resume = cfg.get("resume_from_checkpoint")
    if resume:
        ckpt = Path(str(resume))
        if not (ckpt / "trainer_state.json").is_file():
            return [Problem("resume_from_checkpoint", f"{ckpt} is not a checkpoint (no trainer_state.json)")]
        if ckpt.resolve().parent == out_dir.resolve():
            return []  # continuing in the same folder: its results are this run's own
    if cfg.get("overwrite_output_dir") is True or not out_dir.is_dir():
        return []
    finished = (out_dir / "all_results.json").exists() or _has_weights(out_dir)
    if finished:
        return [Problem("output_dir", f"{out_dir} already holds a finished model; turn on overwrite_output_dir "
                                      f"or choose another folder")]
    return []


def _check_reward_model(cfg: dict[str, Any], ws: Workspace) -> list[Problem]:
    """The reward model exists, is an RM output, and was trained on this PPO's base model."""
    rm = cfg.get("reward_model")
    if not rm:
        return [Problem("reward_model", "PPO needs a reward model (an RM run's output folder)")]
    path = Path(str(rm))
    if not path.is_dir():
        return [Problem("reward_model", f"reward model not found: {rm}")]
    if not any((path / name).is_file() for name in VALUE_HEAD_FILES):
        return [Problem("reward_model", f"{rm} has no value_head.safetensors; choose the output folder of an RM "
                                        f"(stage rm) run")]
    if cfg.get("reward_model_type", "lora") == "full":
        return _check_full_reward_model(path, cfg)
    adapter_config = _read_json(path / "adapter_config.json")
    if adapter_config is None:
        return [Problem("reward_model", f"{rm} is not a LoRA reward model (no readable adapter_config.json); "
                                        f"set reward_model_type full for a full reward model")]
    rm_base = adapter_config.get("base_model_name_or_path")
    base = str(cfg.get("model_name_or_path", ""))
    if rm_base and Path(str(rm_base)).is_absolute() and not Path(str(rm_base)).exists():
        return [Problem("reward_model", f"the reward model {rm} was trained on {rm_base}, which no longer exists, so "
                                        f"medtui cannot check that it matches {base}", level="warn")]
    if rm_base and not _same_model(str(rm_base), base):
        return [Problem("reward_model", f"the reward model {rm} was trained on {rm_base}, but this PPO starts from "
                                        f"{base}; a LoRA reward model only fits the base model it was trained on. "
                                        f"Train the RM on {base}, or choose its matching reward model")]
    rm_adapters = _run_adapters(ws, path)
    ppo_adapters = _adapter_list(cfg.get("adapter_name_or_path"))
    if rm_adapters is not None and rm_adapters != ppo_adapters:
        return [Problem("reward_model", f"the reward model {rm} was trained with adapter(s) "
                                        f"{', '.join(rm_adapters) or 'none'} on the base model, but this PPO loads "
                                        f"{', '.join(ppo_adapters) or 'none'}; they must match")]
    return []


def _check_full_reward_model(path: Path, cfg: dict[str, Any]) -> list[Problem]:
    rm_config = _read_json(path / "config.json")
    if rm_config is None:
        return [Problem("reward_model", f"{path} is not a full reward model (no readable config.json)")]
    base_config = _read_json(Path(str(cfg.get("model_name_or_path", ""))) / "config.json")
    if base_config is None:
        return []
    for key in ("model_type", "vocab_size"):
        if rm_config.get(key) != base_config.get(key):
            return [Problem("reward_model", f"the reward model {path} has {key} {rm_config.get(key)!r} but the PPO "
                                            f"model has {base_config.get(key)!r}; the reward model must be built on "
                                            f"the same base model (same tokenizer)")]
    return []


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _same_model(a: str, b: str) -> bool:
    """Same folder, or a copy of it (a moved workspace); hub ids compare by name."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.is_dir() and pb.is_dir():
        return pa.resolve() == pb.resolve() or model_fingerprint(pa) == model_fingerprint(pb)
    return a.rstrip("/") == b.rstrip("/")


def model_fingerprint(folder: Path, block: int = 1 << 16) -> tuple:
    """Cheap identity of a model folder: its config and, per weight file, the size and a hash of three
    sampled blocks (fine-tuning changes weights everywhere; a copy changes none)."""
    import hashlib

    config = _read_json(folder / "config.json") or {}
    config.pop("_name_or_path", None)
    files = []
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix in (".safetensors", ".bin"):
            size = f.stat().st_size
            digest = hashlib.sha1()
            with open(f, "rb") as fh:
                for at in (size // 3, size // 2, 2 * size // 3):
                    fh.seek(at)
                    digest.update(fh.read(block))
            files.append((f.name, size, digest.hexdigest()))
    return json.dumps(config, sort_keys=True), tuple(files)


def _adapter_list(value: Any) -> list[str]:
    return [str(Path(p.strip()).expanduser().resolve()) for p in str(value or "").split(",") if p.strip()]


def _run_adapters(ws: Workspace, output_dir: Path) -> list[str] | None:
    """The adapters the medtui run that wrote ``output_dir`` loaded; None when no run record says."""
    target = output_dir.resolve()
    for run in list_runs(ws.runs_dir):
        try:
            if run.output_dir.resolve() == target and run.status == "succeeded":
                return _adapter_list((run.record.get("config") or {}).get("adapter_name_or_path"))
        except (KeyError, OSError):
            continue
    return None


def _check_ppo_settings(cfg: dict[str, Any], records: int | None) -> list[Problem]:
    batch = int(cfg.get("per_device_train_batch_size") or 1) * int(cfg.get("gradient_accumulation_steps") or 1)
    out: list[Problem] = []
    if cfg.get("ppo_score_norm") and not ppo_support().uses_llamafactory:
        out.append(Problem("ppo_score_norm", "TRL's PPOTrainer has no score normalisation; remove ppo_score_norm "
                                             "(ppo_whiten_rewards is available)"))
    if cfg.get("ppo_whiten_rewards") is True and batch < 8:
        out.append(Problem("ppo_whiten_rewards", f"whitening rewards needs per_device_train_batch_size x "
                                                 f"gradient_accumulation_steps >= 8 (now {batch})"))
    if records is not None and records < batch:
        out.append(Problem("per_device_train_batch_size", f"the dataset has {records} prompt(s), fewer than one PPO "
                                                          f"batch of {batch} (batch size x gradient accumulation)"))
    return out


def estimate_disk(plan: RunPlan, cfg: dict[str, Any], records: int | None) -> tuple[int, int]:
    """(bytes needed, checkpoints on disk at once) for a run (:mod:`medtui.core.runs.diskplan`)."""
    est = estimate(cfg, records)
    return est.total, est.kept


def _check_disk(plan: RunPlan, cfg: dict[str, Any], records: int | None, env: Environment) -> list[Problem]:
    est = estimate(cfg, records)
    free = env.disk_free(plan.output_dir)
    if est.total > free:
        fixes = "raise save_steps or set save_total_limit" + (", or turn on save_only_model (no optimizer state)"
                                                              if est.optimizer else "")
        return [Problem("save_steps", f"about {human(est.total)} needed for {est.describe()}, but only "
                                      f"{human(free)} is free on the volume of {plan.output_dir}; {fixes}")]
    return []


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.level == "error"]


def format_problems(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)



# -- GPU memory (the estimate of medtui.core.estimate) -----------------------------------------------
def plan_estimate_config(plan: RunPlan) -> dict[str, Any]:
    """The keys the estimator reads, back from a plan: YAML, launch settings and device variables."""
    config: dict[str, Any] = {**plan.yaml_config, **plan.extras, "stage": plan.stage}
    for key, env_name in (("devices", "CUDA_VISIBLE_DEVICES"), ("nproc_per_node", "NPROC_PER_NODE"),
                          ("nnodes", "NNODES")):
        if plan.env.get(env_name):
            config[key] = plan.env[env_name]
    return config


def iter_records_head(file: Path, n: int = 50):
    """The first ``n`` records (the mean record size for files too big to count)."""
    from itertools import islice

    try:
        yield from islice(iter_records(file), n)
    except DataFileError:
        return


def dataset_records(cfg: dict[str, Any], ws: Workspace) -> int | None:
    """Training examples across the config's datasets, or None when any cannot be counted here."""
    registry = ws.registry(cfg.get("dataset_dir"))
    if registry.error or not registry.path.exists():
        return None
    total = 0
    for name in filter(None, (n.strip() for n in str(cfg.get("dataset") or "").split(","))):
        if name not in registry:
            return None
        file = registry.data_file(name)
        if file is None or not file.exists():
            return None
        total += _record_count(file, cfg, list(iter_records_head(file)))
    return total or None


def estimate_input_from_config(config: dict[str, Any], ws: Workspace) -> tuple[dict[str, Any], int | None]:
    """A user's config with its model path resolved against the workspace, and its record count."""
    from medtui.core.stages.builder import resolve_model_path

    config = dict(config)
    if config.get("model_name_or_path"):
        config["model_name_or_path"] = resolve_model_path(ws, str(config["model_name_or_path"]))
    if config.get("dataset_dir"):
        config["dataset_dir"] = str(ws.resolve(str(config["dataset_dir"])))
    try:
        records = dataset_records(config, ws) if config.get("dataset") else None
    except (OSError, ValueError):
        records = None
    return config, records


def plan_estimate(plan: RunPlan, records: int | None = None, facts: Any = None):
    """The estimate for a plan (None when it is not a training run or the model cannot be sized)."""
    from medtui.core.errors import MedtuiError
    from medtui.core.estimate import estimate_config

    if plan.stage == "export" or plan.yaml_config.get("do_train") is False:
        return None
    try:
        config = plan_estimate_config(plan)
        if facts is None:
            from medtui.core.estimate import gpu_facts
            from medtui.core.estimate.settings import devices_count

            facts = gpu_facts(gpus=devices_count(config.get("devices")))
        return estimate_config(config, records=records, facts=facts, with_fixes=facts.budget is not None)
    except MedtuiError:
        return None


def _check_memory(plan: RunPlan, ws: Workspace, records: int | None, env: Environment) -> list[Problem]:
    """Refuse a run whose estimate exceeds the GPUs' free memory (warn above 90 %); none on CPU."""
    from medtui.core.estimate import WARN_SHARE, gib
    from medtui.core.estimate.fixes import describe

    config = plan_estimate_config(plan)
    from medtui.core.estimate.settings import devices_count

    devices = devices_count(config.get("devices"))
    facts = env.gpu_facts(devices)
    if facts is None or facts.budget is None:
        return []
    est = plan_estimate(plan, records, facts)
    if est is None:
        return []
    share = est.per_gpu_bytes / facts.budget if facts.budget else float("inf")
    head = f"the run needs about {gib(est.per_gpu_bytes)} per GPU; {gib(facts.budget)} is free ({share:.0%})"
    fixes = "; ".join(f"{describe(f)} → {gib(f.per_gpu_bytes)}" for f in est.fixes[:4])
    if share > 1.0:
        enforce = as_bool_value(config.get("memory_check"), True)
        msg = f"{head}, so it would run out of memory. Try: {fixes or 'a smaller model'}"
        if enforce:
            return [Problem("memory_check", msg + ". Set memory_check false to start anyway")]
        return [Problem("memory_check", msg, level="warn")]
    if share > WARN_SHARE:
        return [Problem("memory_check", f"{head}; little headroom is left" + (f". Try: {fixes}" if fixes else ""),
                        level="warn")]
    return []


def as_bool_value(value: Any, default: bool) -> bool:
    from medtui.core.stages.validate import as_bool

    parsed = as_bool(value) if value is not None else None
    return default if parsed is None else bool(parsed)
