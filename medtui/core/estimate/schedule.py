"""Disk for checkpoints and time per epoch, from the model's shape and the run's schedule.

Time needs a GPU's peak bf16 throughput (``PEAK_TFLOPS``, dense, from the vendors' data sheets)
and an assumed model-FLOPs utilisation (``MFU``) typical of Hugging Face training; it is a
rough guide, printed only when the GPU is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from medtui.core.estimate.memory import ACT_BYTES, trainable_params
from medtui.core.estimate.settings import Settings
from medtui.core.estimate.shape import ModelShape

#: Dense bf16 tensor TFLOPS by GPU name fragment (first match wins; order matters).
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("B200", 2250.0), ("H200", 989.0), ("H100", 989.0), ("H800", 989.0), ("H20", 148.0), ("GH200", 989.0),
    ("A100", 312.0), ("A800", 312.0), ("A6000", 155.0), ("A40", 150.0), ("A30", 165.0), ("A10", 125.0),
    ("L40S", 362.0), ("L40", 181.0), ("L20", 119.0), ("L4", 121.0), ("RTX 6000 Ada", 364.0),
    ("4090", 165.0), ("4080", 97.0), ("3090", 71.0), ("3080", 60.0), ("V100", 112.0), ("T4", 65.0),
)
MFU = 0.35          # model FLOPs utilisation of a bf16 Hugging Face training step (QLoRA: half)


def peak_tflops(gpu_name: str | None) -> float | None:
    if not gpu_name:
        return None
    upper = gpu_name.upper()
    for fragment, tflops in PEAK_TFLOPS:
        if fragment.upper() in upper:
            return tflops
    return None


@dataclass(frozen=True)
class Schedule:
    steps_per_epoch: int | None
    checkpoints: int
    checkpoint_bytes: int
    final_bytes: int
    disk_bytes: int
    seconds_per_step: float | None
    seconds_per_epoch: float | None


def checkpoint_bytes(shape: ModelShape, s: Settings) -> tuple[int, int]:
    """(bytes of one checkpoint-N folder, bytes of the final model) as the Trainer saves them."""
    trainable = trainable_params(shape, s)
    if s.method == "lora":
        adapter = 4 * trainable if not s.pure_bf16 else ACT_BYTES * trainable
        optim = 8 * trainable
        return int(adapter + optim), int(adapter)
    weights = ACT_BYTES * shape.total_params
    optim = 8 * trainable  # Adam moments in fp32 (DeepSpeed also saves fp32 master weights)
    if s.zero is not None:
        optim += 4 * trainable
    return int(weights + optim), int(weights)


def training_flops_per_token(shape: ModelShape, s: Settings) -> float:
    """Forward 2N, backward 2N for activations plus 2N for weight gradients (trainable only),
    one more forward under gradient checkpointing, plus attention's 4·L·s·h per token."""
    active = shape.active_params_per_token()
    trainable_share = min(1.0, trainable_params(shape, s) / max(shape.total_params, 1))
    per_pass = 2 * active + 4 * shape.layers * (s.seq + s.max_new_tokens) * shape.heads * shape.head_dim
    passes = 1 + 1 + trainable_share + (1 if s.gradient_checkpointing else 0)
    return per_pass * passes


def schedule(shape: ModelShape, s: Settings, *, records: int | None, epochs: float, max_steps: int | None,
             save_steps: int, save_total_limit: int | None, gpu_name: str | None) -> Schedule:
    global_batch = s.batch * s.grad_accum * max(1, s.gpus)
    if max_steps:
        steps: int | None = int(max_steps)
        epoch_steps = math.ceil(records / global_batch) if records else None
    elif records:
        epoch_steps = math.ceil(records / global_batch)
        steps = math.ceil(epoch_steps * max(epochs, 0))
    else:
        steps = epoch_steps = None
    saves = (steps // max(save_steps, 1)) if steps else 0
    if save_total_limit:
        saves = min(saves, int(save_total_limit))
    per_ckpt, final = checkpoint_bytes(shape, s)
    tflops = peak_tflops(gpu_name)
    step_seconds = epoch_seconds = None
    if tflops:
        mfu = MFU / (2 if s.quant_bits else 1)
        tokens = s.batch * s.grad_accum * (2 if s.stage in ("rm", "dpo", "kto") else 1) * (s.seq + s.max_new_tokens)
        step_seconds = tokens * training_flops_per_token(shape, s) / (tflops * 1e12 * mfu)
        if epoch_steps:
            epoch_seconds = step_seconds * epoch_steps
    return Schedule(epoch_steps, saves, per_ckpt, final, per_ckpt * saves + final, step_seconds, epoch_seconds)
