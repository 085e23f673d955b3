"""The training settings the memory model reads, taken from a stage config (the spec's keys).

Every key named here is an argument of :mod:`medtui.core.stages.spec`; values are coerced the
same way the builder coerces them, and defaults are the spec's (and llamafactory's) defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

#: The defaults the estimator assumes for keys a config leaves out: the spec's defaults
#: (``core/stages/spec.py``; a test keeps them equal, and estimate must not import stages).
DEFAULTS: dict[str, Any] = {
    "finetuning_type": "lora", "per_device_train_batch_size": 2, "gradient_accumulation_steps": 8,
    "cutoff_len": 2048, "optim": "adamw_torch", "lora_rank": 8, "lora_target": "all",
    "freeze_trainable_layers": 2,
}
_TRUE, _FALSE = {"true", "yes", "1", "on", "y"}, {"false", "no", "0", "off", "n"}


def _default(name: str) -> Any:
    return DEFAULTS.get(name)


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _int(value: Any, fallback: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return fallback


def _float(value: Any, fallback: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return fallback


def _flag(value: Any, fallback: bool = False) -> bool:
    parsed = as_bool(value) if value is not None else None
    return fallback if parsed is None else bool(parsed)


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        parts = str(value).split(",")
    return tuple(p.strip() for p in parts if p.strip())


@dataclass(frozen=True)
class Settings:
    """One run's settings as the estimator sees them."""

    stage: str = "sft"
    method: str = "lora"                     # full | freeze | lora
    quant_bits: int | None = None            # QLoRA: 4 or 8
    batch: int = 2                           # per_device_train_batch_size
    grad_accum: int = 8
    seq: int = 2048                          # cutoff_len (packed length with packing)
    packing: bool = False
    gradient_checkpointing: bool = True      # not disable_gradient_checkpointing
    attention: str = "sdpa"                  # sdpa | fa2 | eager
    liger: bool = False
    half: bool = True                        # bf16 or fp16 compute (always on a GPU)
    pure_bf16: bool = False
    optim: str = "adamw_torch"
    lora_rank: int = 8
    lora_target: tuple[str, ...] = ("all",)
    lora_dropout: float = 0.0
    additional_target: tuple[str, ...] = ()
    use_dora: bool = False
    freeze_layers: int = 2
    freeze_modules: tuple[str, ...] = ("all",)
    freeze_extra: tuple[str, ...] = ()
    galore: bool = False
    galore_rank: int = 16
    galore_target: tuple[str, ...] = ("all",)
    galore_layerwise: bool = False
    apollo: bool = False
    apollo_rank: int = 16
    apollo_target: tuple[str, ...] = ("all",)
    apollo_layerwise: bool = False
    badam: bool = False
    badam_mode: str = "layer"
    badam_ratio: float = 0.05
    zero: int | None = None                  # DeepSpeed ZeRO stage 0/2/3, None for plain DDP
    offload: bool = False
    gpus: int = 1                            # data-parallel world size
    nodes: int = 1
    max_new_tokens: int = 0                  # PPO rollouts
    extra: dict[str, Any] = field(default_factory=dict)

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def sequences_per_step(self) -> int:
        """Sequences in one forward pass: pairwise stages run chosen and rejected (or KL) together."""
        return self.batch * (2 if self.stage in ("rm", "dpo", "kto") else 1)


def attention_of(value: Any) -> str:
    value = str(value or "auto").lower()
    if value in ("fa2", "flash_attention_2"):
        return "fa2"
    if value in ("disabled", "eager"):
        return "eager"
    return "sdpa"  # auto: transformers picks sdpa on torch >= 2.1


def devices_count(value: Any) -> int | None:
    if value in (None, ""):
        return None
    parts = [p for p in str(value).split(",") if p.strip()]
    return len(parts) or None


def deepspeed_file_settings(path: Any) -> tuple[int | None, bool]:
    """(ZeRO stage, offload) from a DeepSpeed JSON named by the YAML's ``deepspeed`` key."""
    import json
    from pathlib import Path

    try:
        data = json.loads(Path(str(path)).expanduser().read_text(encoding="utf-8"))
        zero = data.get("zero_optimization") or {}
        stage = int(zero.get("stage", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return None, False
    offload = any(str((zero.get(k) or {}).get("device", "none")).lower() in ("cpu", "nvme")
                  for k in ("offload_optimizer", "offload_param"))
    return stage, offload


def settings_from_config(config: dict[str, Any], *, gpus: int | None = None) -> Settings:
    """Read a stage config (YAML keys, launch and env keys from the spec) into :class:`Settings`."""
    c = config
    method = str(c.get("finetuning_type") or _default("finetuning_type"))
    quant = c.get("quantization_bit")
    quant_bits = _int(quant, 0) or None if quant not in (None, "", "none", "None") else None
    stage = str(c.get("stage") or "sft")
    packing_value = c.get("packing")
    packing = _flag(packing_value, stage == "pt")
    zero_value = c.get("deepspeed_stage")
    zero = _int(zero_value, -1) if zero_value not in (None, "", "none", "None") else None
    if zero is not None and zero < 0:
        zero = None
    offload = _flag(c.get("deepspeed_offload"), False)
    if zero is None and c.get("deepspeed"):
        zero, offload = deepspeed_file_settings(c["deepspeed"])
    if gpus is None:
        gpus = (_int(c.get("nproc_per_node"), 0) or devices_count(c.get("devices")) or 1)
    nodes = max(1, _int(c.get("nnodes"), 1))
    return Settings(
        stage=stage,
        method=method if method in ("full", "freeze", "lora") else "lora",
        quant_bits=quant_bits if quant_bits in (2, 3, 4, 5, 6, 8) else None,
        batch=max(1, _int(c.get("per_device_train_batch_size"), _default("per_device_train_batch_size"))),
        grad_accum=max(1, _int(c.get("gradient_accumulation_steps"), _default("gradient_accumulation_steps"))),
        seq=max(1, _int(c.get("cutoff_len"), _default("cutoff_len"))),
        packing=packing,
        gradient_checkpointing=not _flag(c.get("disable_gradient_checkpointing"), False),
        attention=attention_of(c.get("flash_attn")),
        liger=_flag(c.get("enable_liger_kernel"), False),
        half=True,
        pure_bf16=_flag(c.get("pure_bf16"), False),
        optim=str(c.get("optim") or _default("optim")),
        lora_rank=max(1, _int(c.get("lora_rank"), _default("lora_rank"))),
        lora_target=_names(c.get("lora_target") or _default("lora_target")) or ("all",),
        lora_dropout=_float(c.get("lora_dropout"), 0.0),
        additional_target=_names(c.get("additional_target")),
        use_dora=_flag(c.get("use_dora"), False),
        freeze_layers=_int(c.get("freeze_trainable_layers"), _default("freeze_trainable_layers")),
        freeze_modules=_names(c.get("freeze_trainable_modules") or "all") or ("all",),
        freeze_extra=_names(c.get("freeze_extra_modules")),
        galore=_flag(c.get("use_galore"), False),
        galore_rank=max(1, _int(c.get("galore_rank"), 16)),
        galore_target=_names(c.get("galore_target") or "all") or ("all",),
        galore_layerwise=_flag(c.get("galore_layerwise"), False),
        apollo=_flag(c.get("use_apollo"), False),
        apollo_rank=max(1, _int(c.get("apollo_rank"), 16)),
        apollo_target=_names(c.get("apollo_target") or "all") or ("all",),
        apollo_layerwise=_flag(c.get("apollo_layerwise"), False),
        badam=_flag(c.get("use_badam"), False),
        badam_mode=str(c.get("badam_mode") or "layer"),
        badam_ratio=_float(c.get("badam_update_ratio"), 0.05),
        zero=zero,
        offload=offload,
        gpus=max(1, int(gpus)) * nodes,
        nodes=nodes,
        max_new_tokens=_int(c.get("max_new_tokens"), 0) if stage == "ppo" else 0,
    )
