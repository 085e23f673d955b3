"""Ways to make a run fit, ordered by how much quality they cost, each with its own estimate.

Order: changes that cost no quality come first (fastest first), then the ones that change what
is learned, least first. Every fix is a ``{spec key: value}`` change to the user's config, so
it can be applied with ``--set`` or in the Train form, and is re-estimated on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from medtui.core.estimate.settings import Settings


@dataclass(frozen=True)
class Fix:
    change: dict[str, Any]
    per_gpu_bytes: int
    quality: str   # "none" or what it costs
    speed: str     # what it costs in speed
    fits: bool | None = None

    def as_json(self) -> dict[str, Any]:
        return {"change": self.change, "per_gpu_bytes": self.per_gpu_bytes}


# (label, quality cost, speed cost, applies?, change builder) in the order they are offered.
Candidate = tuple[str, str, str, Callable[[Settings], bool], Callable[[Settings], dict[str, Any]]]

CANDIDATES: tuple[Candidate, ...] = (
    ("sdpa attention", "none", "none", lambda s: s.attention == "eager", lambda s: {"flash_attn": "sdpa"}),
    ("fused cross-entropy", "none", "none (faster)", lambda s: not s.liger and s.stage != "rm",
     lambda s: {"enable_liger_kernel": True}),
    ("gradient checkpointing", "none", "about 20-30% slower", lambda s: not s.gradient_checkpointing,
     lambda s: {"disable_gradient_checkpointing": False}),
    ("smaller micro-batch", "none (same effective batch)", "a little slower", lambda s: s.batch > 1,
     lambda s: {"per_device_train_batch_size": 1, "gradient_accumulation_steps": s.grad_accum * s.batch}),
    ("ZeRO-2", "none", "some communication", lambda s: s.gpus > 1 and s.zero in (None, 0),
     lambda s: {"deepspeed_stage": 2}),
    ("ZeRO-3", "none", "more communication", lambda s: s.gpus > 1 and s.zero != 3,
     lambda s: {"deepspeed_stage": 3}),
    ("CPU offload", "none", "several times slower", lambda s: not s.offload,
     lambda s: {"deepspeed_stage": 3 if s.zero in (None, 0, 3) or s.gpus == 1 else s.zero, "deepspeed_offload": True}),
    ("shorter cutoff_len", "longer examples are truncated", "faster", lambda s: s.seq > 256,
     lambda s: {"cutoff_len": s.seq // 2}),
    ("8-bit optimizer", "small", "about the same", lambda s: s.method != "lora" and "8bit" not in s.optim,
     lambda s: {"optim": "adamw_8bit"}),
    ("LoRA", "adapts fewer weights", "faster", lambda s: s.method != "lora",
     lambda s: {"finetuning_type": "lora", "lora_rank": 8, "lora_target": "all"}),
    ("QLoRA 8-bit", "base weights quantised to 8 bits", "slower",
     lambda s: s.quant_bits is None and s.zero != 3,
     lambda s: {"finetuning_type": "lora", "quantization_bit": 8, **({} if s.method == "lora" else
                                                                    {"lora_rank": 8, "lora_target": "all"})}),
    ("QLoRA 4-bit", "base weights quantised to 4 bits", "slower",
     lambda s: (s.quant_bits or 16) > 4 and s.zero != 3,
     lambda s: {"finetuning_type": "lora", "quantization_bit": 4, **({} if s.method == "lora" else
                                                                    {"lora_rank": 8, "lora_target": "all"})}),
)

QUALITY_LABELS = {c[0]: (c[1], c[2]) for c in CANDIDATES}


def find_fixes(config: dict[str, Any], settings: Settings, estimate_of: Callable[[dict[str, Any]], int],
               budget: int | None) -> list[Fix]:
    """Every candidate that lowers the peak, in order, each estimated alone on top of ``config``.

    When ``budget`` is known and no single change fits, a last entry combines changes in order
    until the run fits (or all have been tried).
    """
    now = estimate_of(config)
    fixes: list[Fix] = []
    for _label, quality, speed, applies, build in CANDIDATES:
        if not applies(settings):
            continue
        change = build(settings)
        if change.get("cutoff_len") and budget is not None:
            fitting = _largest_fitting_cutoff(config, settings, estimate_of, budget)
            if fitting is None:
                continue  # no cutoff_len fits on its own
            change = {"cutoff_len": fitting}
        after = estimate_of({**config, **change})
        if after >= now:
            continue
        fixes.append(Fix(change, after, quality, speed, None if budget is None else after <= budget))
    if budget is not None and fixes and not any(f.fits for f in fixes):
        combined: dict[str, Any] = {}
        for fix in fixes:
            if "cutoff_len" in fix.change:
                continue
            combined.update(fix.change)
            after = estimate_of({**config, **combined})
            if after <= budget:
                break
        after = estimate_of({**config, **combined})
        if len(combined) > 1 and after < min(f.per_gpu_bytes for f in fixes):
            fixes.append(Fix(dict(combined), after, "the sum of the above", "the sum of the above", after <= budget))
    return fixes


def _largest_fitting_cutoff(config: dict[str, Any], settings: Settings, estimate_of, budget: int) -> int | None:
    lo, hi = 16, settings.seq - 1
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        if estimate_of({**config, "cutoff_len": mid}) <= budget:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    if best is None:
        return None
    return max(16, best // 64 * 64 or best)


def describe(fix: Fix) -> str:
    return ", ".join(f"{k}={_text(v)}" for k, v in fix.change.items())


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)
