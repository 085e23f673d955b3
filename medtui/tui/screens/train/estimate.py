"""The Train form's live "Will it fit?" line: the memory estimate of the form's config, off the UI thread."""

from __future__ import annotations

from typing import Any

from medtui.core.errors import MedtuiError
from medtui.core.workspace import Workspace

SHORT = {"weights": ("weights", "权重"), "gradients": ("grads", "梯度"), "optimizer": ("optimizer", "优化器"),
         "activations": ("activations", "激活"), "logits": ("logits", "logits")}


def estimate_lines(config: dict[str, Any], ws: Workspace, lang: str, facts=None) -> tuple[str, str, str]:
    """(headline, breakdown, level) for the form; level is ok | warn | error | none. Never raises."""
    from medtui.core.estimate import WARN_SHARE, estimate_config, gib
    from medtui.core.estimate.fixes import describe
    from medtui.core.stages.preflight import estimate_input_from_config
    from medtui.core.stages.spec import TRAIN_STAGES

    zh = lang == "zh"
    if str(config.get("stage", "sft")) not in TRAIN_STAGES or not config.get("model_name_or_path"):
        return "", "", "none"
    try:
        resolved, _ = estimate_input_from_config({k: v for k, v in config.items() if k != "dataset"}, ws)
        est = estimate_config(resolved, facts=facts)
    except MedtuiError as exc:
        return ("显存估算:" if zh else "Memory estimate: ") + str(exc), "", "none"
    except (OSError, ValueError, TypeError) as exc:
        return ("显存估算不可用:" if zh else "Memory estimate unavailable: ") + str(exc), "", "none"
    b = est.memory.breakdown
    parts = [f"{SHORT[k][1 if zh else 0]} {gib(b[k])}" for k in SHORT]
    parts.append(("上下文与余量 " if zh else "context+headroom ") + gib(b["cuda_context"] + b["allocator_headroom"]))
    head = (f"估算每张 GPU 峰值 {gib(est.per_gpu_bytes)}" if zh else f"Estimate: {gib(est.per_gpu_bytes)} per GPU")
    if est.fits is None:
        return head + (" · 未检测到 GPU" if zh else " · no GPU visible to compare"), " · ".join(parts), "none"
    share = est.share_of_free or 0.0
    free = gib(est.gpus.budget or 0)
    if est.fits:
        level = "warn" if share > WARN_SHARE else "ok"
        head += (f" · 可放下(占空闲 {free} 的 {share:.0%})" if zh else f" · fits ({share:.0%} of {free} free)")
    else:
        level = "error"
        head += (f" · 放不下(空闲 {free},需 {share:.0%})" if zh else f" · does NOT fit ({share:.0%} of {free} free)")
        first = next((f for f in est.fixes if f.fits), est.fixes[0] if est.fixes else None)
        if first is not None:
            head += (" · 可试 " if zh else " · try ") + f"{describe(first)} → {gib(first.per_gpu_bytes)}"
    if any("plain DDP" in n for n in est.memory.notes):
        parts.append("DDP 每张卡都有完整模型" if zh else "DDP: every GPU holds the whole model")
    return head, " · ".join(parts), level
