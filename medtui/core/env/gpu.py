"""GPU facts from NVML (nvidia-ml-py), respecting ``CUDA_VISIBLE_DEVICES``; never imports torch.

:func:`snapshot` returns a :class:`GpuSnapshot` whose ``reason`` explains an empty list (no
NVML library, no driver, no visible device), so callers can show a clean "no GPU" state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    uuid: str
    memory_total: int
    memory_used: int
    utilization: int | None
    temperature: int | None
    power_w: float | None
    power_limit_w: float | None
    compute_capability: tuple[int, int] | None

    @property
    def bf16(self) -> bool:
        return self.compute_capability is not None and self.compute_capability >= (8, 0)


@dataclass
class GpuSnapshot:
    gpus: list[GpuInfo] = field(default_factory=list)
    reason: str = ""
    driver: str | None = None
    cuda: str | None = None


def _visible(count: int, uuids: list[str]) -> list[int]:
    spec = os.environ.get("CUDA_VISIBLE_DEVICES")
    if spec is None:
        return list(range(count))
    chosen: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part.isdigit():
            idx = int(part)
            if idx >= count:
                break  # CUDA stops at the first invalid entry
            chosen.append(idx)
        else:
            match = [i for i, u in enumerate(uuids) if u.startswith(part) or u == f"GPU-{part}"]
            if not match:
                break
            chosen.append(match[0])
    return chosen


def snapshot() -> GpuSnapshot:
    try:
        import pynvml
    except ImportError:
        return GpuSnapshot(reason="NVML not available: nvidia-ml-py is not installed")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return GpuSnapshot(reason=f"no GPU / NVML not available ({exc})")
    try:
        count = pynvml.nvmlDeviceGetCount()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        uuids = [_text(pynvml.nvmlDeviceGetUUID(h)) for h in handles]
        snap = GpuSnapshot(driver=_safe(lambda: _text(pynvml.nvmlSystemGetDriverVersion())))
        cuda = _safe(pynvml.nvmlSystemGetCudaDriverVersion)
        if cuda:
            snap.cuda = f"{cuda // 1000}.{cuda % 1000 // 10}"
        for idx in _visible(count, uuids):
            h = handles[idx]
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            util = _safe(lambda d: pynvml.nvmlDeviceGetUtilizationRates(d).gpu, h)
            temp = _safe(pynvml.nvmlDeviceGetTemperature, h, pynvml.NVML_TEMPERATURE_GPU)
            power = _safe(lambda d: pynvml.nvmlDeviceGetPowerUsage(d) / 1000.0, h)
            limit = _safe(lambda d: pynvml.nvmlDeviceGetEnforcedPowerLimit(d) / 1000.0, h)
            cc = _safe(lambda d: tuple(pynvml.nvmlDeviceGetCudaComputeCapability(d)), h)
            snap.gpus.append(GpuInfo(idx, _text(pynvml.nvmlDeviceGetName(h)), uuids[idx], int(mem.total),
                                     int(mem.used), util, temp, power, limit, cc))
        if not snap.gpus:
            snap.reason = "no visible GPU (CUDA_VISIBLE_DEVICES hides them all)" if count else "no NVIDIA GPU found"
        return snap
    except pynvml.NVMLError as exc:
        return GpuSnapshot(reason=f"NVML error: {exc}")
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _safe(fn, *args):
    try:
        return fn(*args)
    except Exception:  # NVML raises per-field "not supported" errors on some boards
        return None
