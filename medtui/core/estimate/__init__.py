"""``Will it fit?``: GPU memory, CPU RAM, disk and time of a training run, before it starts.

Everything is computed from the model's ``config.json`` and the stage config (the spec's keys);
nothing imports torch and no weights are read. :func:`estimate_config` is the one entry point
for ``medtui estimate``, ``medtui train --dry-run``, pre-flight and the Train form.

Modules: :mod:`.shape` (config.json → layers and linear modules), :mod:`.settings` (stage config →
what the model needs), :mod:`.memory` (the memory model), :mod:`.fixes` (what to change when it
does not fit), :mod:`.schedule` (disk and time). Sources: ``docs/memory-estimate.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from medtui.core.estimate.fixes import Fix, describe, find_fixes
from medtui.core.estimate.memory import PARTS, GiB, MemoryEstimate, estimate_memory
from medtui.core.estimate.schedule import Schedule, schedule
from medtui.core.estimate.settings import Settings, devices_count, settings_from_config
from medtui.core.estimate.shape import ModelShape, load_shape

__all__ = ["Estimate", "GpuFacts", "estimate_config", "gpu_facts", "GiB", "PARTS"]

WARN_SHARE = 0.9  # pre-flight warns above this share of free GPU memory, refuses above 100 %


@dataclass(frozen=True)
class GpuFacts:
    """Free memory of the GPUs a run would use, and their name (for the time estimate)."""

    free: tuple[int, ...] = ()
    name: str | None = None
    source: str = ""  # "nvml", "--gpu-memory" or "" (none known)

    @property
    def budget(self) -> int | None:
        return min(self.free) if self.free else None


def gpu_facts(*, gpu_memory_gib: float | None = None, gpus: int | None = None, gpu_name: str | None = None,
              snapshot: Callable[[], Any] | None = None) -> GpuFacts:
    """The GPUs' free memory: ``--gpu-memory`` when given, else NVML (visible devices only)."""
    if gpu_memory_gib is not None:
        return GpuFacts(tuple([int(gpu_memory_gib * GiB)] * max(1, gpus or 1)), gpu_name, "--gpu-memory")
    if snapshot is None:
        from medtui.core.env.gpu import snapshot as nvml_snapshot

        snapshot = nvml_snapshot
    snap = snapshot()
    gpus_seen = list(getattr(snap, "gpus", []) or [])
    if not gpus_seen:
        return GpuFacts((), gpu_name, "")
    used = gpus_seen[: gpus] if gpus else gpus_seen
    free = tuple(max(0, int(g.memory_total) - int(g.memory_used)) for g in used)
    return GpuFacts(free, gpu_name or used[0].name, "nvml")


@dataclass
class Estimate:
    """The whole answer for one config."""

    model: str
    shape: ModelShape
    settings: Settings
    memory: MemoryEstimate
    gpus: GpuFacts
    fixes: list[Fix] = field(default_factory=list)
    schedule: Schedule | None = None

    @property
    def per_gpu_bytes(self) -> int:
        return self.memory.per_gpu_bytes

    @property
    def fits(self) -> bool | None:
        budget = self.gpus.budget
        return None if budget is None else self.per_gpu_bytes <= budget

    @property
    def share_of_free(self) -> float | None:
        budget = self.gpus.budget
        return None if not budget else self.per_gpu_bytes / budget

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` object: per_gpu_bytes, breakdown, cpu_bytes, fits, fixes (+ context)."""
        out: dict[str, Any] = {
            "per_gpu_bytes": self.per_gpu_bytes,
            "breakdown": dict(self.memory.breakdown),
            "cpu_bytes": self.memory.cpu_bytes,
            "fits": self.fits,
            "fixes": [f.as_json() for f in self.fixes],
            "gpus": self.settings.gpus,
            "gpu_free_bytes": self.gpus.budget,
            "total_params": self.memory.total_params,
            "trainable_params": self.memory.trainable_params,
            "notes": list(self.memory.notes),
        }
        if self.schedule is not None:
            out["disk_bytes"] = self.schedule.disk_bytes
            out["seconds_per_epoch"] = self.schedule.seconds_per_epoch
        return out

    def lines(self, *, fixes: bool = True) -> list[str]:
        """The human-readable report (``medtui estimate`` and ``train --dry-run``)."""
        s, m = self.settings, self.memory
        method = s.method + (f" + {s.quant_bits}-bit QLoRA" if s.quant_bits else "")
        dist = "plain DDP" if s.zero is None else f"DeepSpeed ZeRO-{s.zero}" + (" + offload" if s.offload else "")
        out = [
            f"model: {self.model} ({self.shape.model_type}, {params(m.total_params)} parameters, "
            f"{params(m.trainable_params)} trainable)",
            f"run: {s.stage} {method}, batch {s.batch} x {s.seq} tokens, {s.gpus} GPU(s), {dist}, "
            f"optimizer {s.optim}",
            f"peak GPU memory per device: {gib(self.per_gpu_bytes)}",
        ]
        for part in PARTS:
            value = m.breakdown.get(part, 0)
            extra = ""
            if part == "activations":
                other = m.activations_without_gc if s.gradient_checkpointing else m.activations_with_gc
                extra = (f"  (gradient checkpointing {'on' if s.gradient_checkpointing else 'off'}; "
                         f"{'off' if s.gradient_checkpointing else 'on'}: {gib(other)}; {s.attention} attention")
                if s.attention == "eager":
                    extra += f", whose s x s matrices are {gib(m.attention_matrix_bytes)} of it)"
                else:
                    extra += f"; eager would add {gib(m.attention_matrix_bytes)})"
            out.append(f"  {part.replace('_', ' '):<20} {gib(value):>10}{extra}")
        if m.cpu_bytes:
            out.append(f"CPU RAM for offloaded states: {gib(m.cpu_bytes)}")
        budget = self.gpus.budget
        if budget is None:
            out.append("fits: unknown (no GPU visible; pass --gpu-memory GiB)")
        else:
            share = self.per_gpu_bytes / budget if budget else float("inf")
            verdict = "yes" if self.fits else "NO"
            out.append(f"fits: {verdict} ({share:.0%} of {gib(budget)} free per GPU, from {self.gpus.source})")
        out += [f"note: {n}" for n in m.notes]
        if fixes and self.fixes and self.fits is not True:
            out.append("to make it fit (least quality loss first):" if self.fits is False else
                       "ways to lower it (least quality loss first):")
            for fix in self.fixes:
                mark = "" if fix.fits is None else (" fits" if fix.fits else "")
                out.append(f"  --set {describe(fix)}: {gib(fix.per_gpu_bytes)}{mark} "
                           f"(quality: {fix.quality}; speed: {fix.speed})")
        if self.schedule is not None:
            sch = self.schedule
            out.append(f"disk: {gib(sch.disk_bytes)} ({sch.checkpoints} checkpoint(s) of {gib(sch.checkpoint_bytes)} "
                       f"+ final {gib(sch.final_bytes)})")
            if sch.seconds_per_epoch is not None:
                out.append(f"time per epoch: about {_duration(sch.seconds_per_epoch)} on {self.gpus.name} "
                           f"({sch.steps_per_epoch} steps; sequences as long as cutoff_len, so an upper bound)")
            elif sch.seconds_per_step is not None:
                out.append(f"time per step: about {_duration(sch.seconds_per_step)} on {self.gpus.name}")
        return out


def gib(n: float) -> str:
    """Bytes as GiB (MiB below one GiB)."""
    if abs(n) < GiB:
        return f"{n / 2 ** 20:.1f} MiB"
    return f"{n / GiB:.2f} GiB"


def params(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_config(config: dict[str, Any], *, gpus: int | None = None, gpu_memory_gib: float | None = None,
                    gpu_name: str | None = None, model_config: str | Path | None = None,
                    records: int | None = None, facts: GpuFacts | None = None,
                    snapshot: Callable[[], Any] | None = None, with_fixes: bool = True) -> Estimate:
    """Estimate ``config`` (raises MedtuiError when the model's config.json cannot be read)."""
    model = str(model_config or config.get("model_name_or_path") or "")
    if not model:
        from medtui.core.errors import MedtuiError

        raise MedtuiError("the config names no model_name_or_path; set it or pass --model-config config.json")
    shape = load_shape(model)
    explicit = gpus or _int_or_none(config.get("nproc_per_node")) or devices_count(config.get("devices"))
    if facts is None:
        facts = gpu_facts(gpu_memory_gib=gpu_memory_gib, gpus=explicit, gpu_name=gpu_name, snapshot=snapshot)
    count = explicit or (len(facts.free) if facts.source == "nvml" and facts.free else 1)
    settings = settings_from_config(config, gpus=count)

    def per_gpu(cfg: dict[str, Any]) -> int:
        return estimate_memory(shape, settings_from_config(cfg, gpus=count)).per_gpu_bytes

    memory = estimate_memory(shape, settings)
    budget = facts.budget
    fixes: list[Fix] = []
    if with_fixes and (budget is None or memory.per_gpu_bytes > budget * WARN_SHARE):
        fixes = find_fixes(config, settings, per_gpu, budget)
        if budget is None:  # nothing to fit: offer only changes that save a noticeable share
            fixes = [f for f in fixes if f.per_gpu_bytes < 0.95 * memory.per_gpu_bytes]
    sched = schedule(shape, settings, records=records, epochs=float(config.get("num_train_epochs") or 3.0),
                     max_steps=_int_or_none(config.get("max_steps")),
                     save_steps=_int_or_none(config.get("save_steps")) or 100,
                     save_total_limit=_int_or_none(config.get("save_total_limit")), gpu_name=facts.name)
    return Estimate(model, shape, settings, memory, facts, fixes, sched)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
