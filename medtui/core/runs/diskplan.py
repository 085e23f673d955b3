"""How much disk a training run's saves take: checkpoints kept at once plus the final model.

A checkpoint holds the trained weights (the full model for full and freeze tuning, the adapter for
LoRA; llamafactory upcasts trainable parameters to float32 unless ``pure_bf16``), the optimizer
state for the trainable parameters (AdamW: two float32 moments each) unless ``save_only_model``,
and a little trainer state. The Hugging Face Trainer saves one every ``save_steps`` and at the
end, and deletes old ones only after writing a new one, so with ``save_total_limit`` N up to
N + 1 exist at once. Parameter counts come from the safetensors headers and ``config.json``;
nothing is imported.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json", "merges.txt",
                   "special_tokens_map.json", "chat_template.jinja")
TRAINER_STATE = 64 << 10  # scheduler, RNG state, trainer_state.json, training_args.bin
LOGS = 1 << 20  # trainer_log.jsonl, running_log.txt, stdout/stderr, loss plot
LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "uint8": 1}


@dataclass(frozen=True)
class DiskEstimate:
    params: int  # parameters of the base model
    trainable: int  # parameters the run trains
    weights: int  # bytes of trained weights per save (full model or adapter)
    optimizer: int  # bytes of optimizer state per checkpoint (0 with save_only_model)
    checkpoint: int  # bytes of one checkpoint
    saves: int  # checkpoints the run writes
    kept: int  # checkpoints on disk at once (at most)
    final: int  # the final model (or adapter) plus tokenizer files

    @property
    def total(self) -> int:
        return self.checkpoint * self.kept + self.final + LOGS

    def describe(self) -> str:
        return (f"{self.kept} checkpoint(s) of {human(self.checkpoint)} (weights {human(self.weights)}"
                f"{f', optimizer state {human(self.optimizer)}' if self.optimizer else ''}) plus the final "
                f"{human(self.final)}")


def human(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}" if unit == "GB" else f"{n / size:.1f} {unit}"
    return f"{n} B"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def model_params(folder: Path) -> tuple[int, int]:
    """(parameters, bytes of weight files) of a model folder; parameters from safetensors headers,
    else estimated from the file size and ``config.json``'s dtype."""
    from medtui.core.hub.modelcheck import count_parameters

    if not folder.is_dir():
        return 0, 0
    files = [f for f in folder.iterdir() if f.is_file() and f.suffix in WEIGHT_SUFFIXES]
    size = sum(f.stat().st_size for f in files)
    safetensors = [f for f in files if f.suffix == ".safetensors"]
    if safetensors:
        try:
            return count_parameters(safetensors)[0], size
        except (OSError, ValueError):
            pass
    config = _read_json(folder / "config.json")
    per = DTYPE_BYTES.get(str(config.get("torch_dtype") or config.get("dtype") or "bfloat16"), 2)
    return size // per, size


def lora_params(config: dict[str, Any], rank: int, target: str) -> int | None:
    """Trainable parameters of LoRA adapters on a decoder's linear layers, from ``config.json``."""
    try:
        h, layers = int(config["hidden_size"]), int(config["num_hidden_layers"])
        inter = int(config.get("intermediate_size") or 4 * h)
        heads = int(config.get("num_attention_heads") or 1)
        kv = int(config.get("num_key_value_heads") or heads) * int(config.get("head_dim") or h // heads)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    shapes = {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
              "gate_proj": (h, inter), "up_proj": (h, inter), "down_proj": (inter, h)}
    wanted = LORA_MODULES if target.strip() in ("all", "") else [t.strip() for t in target.split(",")]
    per_layer = sum(rank * (a + b) for name, (a, b) in shapes.items() if name in wanted)
    if not per_layer:  # modules named differently (e.g. query_key_value): assume all linear layers
        per_layer = sum(rank * (a + b) for a, b in shapes.values())
    return per_layer * layers


def _optimizer_bytes(optim: str) -> int:
    name = optim.lower()
    if "adafactor" in name:
        return 1
    if "8bit" in name:
        return 2
    if "sgd" in name:
        return 4
    return 8


def _saves(cfg: dict[str, Any], records: int | None) -> int:
    strategy = str(cfg.get("save_strategy") or "steps").lower()
    if strategy == "no":
        return 0
    epochs = float(cfg.get("num_train_epochs") or 3)
    batch = int(cfg.get("per_device_train_batch_size") or 1) * int(cfg.get("gradient_accumulation_steps") or 1)
    if cfg.get("max_steps") and int(cfg["max_steps"]) > 0:
        steps = int(cfg["max_steps"])
    elif records:
        steps = math.ceil(records / max(batch, 1)) * math.ceil(epochs)
    else:
        steps = 0
    if not steps:
        return 0
    if strategy == "epoch":
        return max(1, math.ceil(epochs))
    return math.ceil(steps / max(int(cfg.get("save_steps") or 500), 1))  # every save_steps, and at the end


def estimate(cfg: dict[str, Any], records: int | None) -> DiskEstimate:
    """The disk a run of ``cfg`` (a built YAML config) needs, for ``records`` training examples."""
    folder = Path(str(cfg.get("model_name_or_path") or ""))
    params, stored = model_params(folder)
    bpp = stored / params if params else 2.0
    method = cfg.get("finetuning_type") or "lora"
    up = 2 if cfg.get("pure_bf16") else 4
    config = _read_json(folder / "config.json")
    if method == "full":
        trainable = params
        weights = params * up
    elif method == "freeze":
        layers = int(config.get("num_hidden_layers") or 1)
        trainable = int(params * min(1.0, abs(int(cfg.get("freeze_trainable_layers") or 2)) / max(layers, 1)))
        weights = int(stored - trainable * bpp + trainable * up)
    else:
        trainable = lora_params(config, int(cfg.get("lora_rank") or 8), str(cfg.get("lora_target") or "all"))
        if trainable is None:
            trainable = params // 100
        weights = trainable * up
    optimizer = 0 if cfg.get("save_only_model") else trainable * _optimizer_bytes(str(cfg.get("optim") or "adamw"))
    tokenizer = sum((folder / n).stat().st_size for n in TOKENIZER_FILES if (folder / n).is_file())
    checkpoint = weights + optimizer + TRAINER_STATE + tokenizer
    saves = _saves(cfg, records)
    limit = cfg.get("save_total_limit")
    kept = min(saves, int(limit) + 1) if limit else saves
    return DiskEstimate(params=params, trainable=trainable, weights=weights, optimizer=optimizer,
                        checkpoint=checkpoint, saves=saves, kept=kept, final=weights + tokenizer)
