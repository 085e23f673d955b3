"""System gauges in plain Python: CPU and RAM (psutil), free disk, and GPUs (NVML via core.gpu).

A :class:`Sampler` is called off the UI thread every second or two. NVML is slow to query, so
the GPU snapshot is cached for ``gpu_interval`` seconds, and much longer when NVML is missing
(a machine without a GPU does not grow one). Load levels follow nvitop: light / moderate /
heavy at 10/75 % for GPU utilisation and 10/80 % for memory.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

from medtui.core.env.gpu import GpuSnapshot
from medtui.core.env.gpu import snapshot as gpu_snapshot

DEFAULT_DISK_WARN_GB = 10.0
GIB = 1024**3
UTIL_LEVELS = (10.0, 75.0)
MEMORY_LEVELS = (10.0, 80.0)


def level(percent: float | None, thresholds: tuple[float, float]) -> str:
    """``light``, ``moderate`` or ``heavy`` (nvitop's colours); ``na`` when there is no value."""
    if percent is None:
        return "na"
    moderate, heavy = thresholds
    if percent >= heavy:
        return "heavy"
    return "moderate" if percent >= moderate else "light"


@dataclass(frozen=True)
class DiskInfo:
    """Free space on the volume that holds ``path`` (``probed`` is the folder actually measured)."""

    path: Path
    probed: Path
    free: int
    total: int
    warn_bytes: int

    @property
    def warning(self) -> bool:
        return self.free < self.warn_bytes

    @property
    def level(self) -> str:
        """``heavy`` below the warning threshold, ``moderate`` below twice it, else ``light``."""
        if self.warning:
            return "heavy"
        return "moderate" if self.free < 2 * self.warn_bytes else "light"


@dataclass(frozen=True)
class SysStats:
    cpu_percent: float
    cpu_count: int
    ram_used: int
    ram_total: int
    ram_percent: float
    disk: DiskInfo | None
    gpu: GpuSnapshot = field(default_factory=GpuSnapshot)


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing parent (``saves/`` may not exist yet)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def disk_info(path: str | os.PathLike, warn_bytes: int) -> DiskInfo | None:
    probed = nearest_existing(Path(path))
    try:
        usage = psutil.disk_usage(str(probed))
    except OSError:
        return None
    return DiskInfo(Path(path), probed, int(usage.free), int(usage.total), int(warn_bytes))


class Sampler:
    """Samples :class:`SysStats`; safe to call from one worker thread at a time."""

    def __init__(self, disk_path: str | os.PathLike, *, disk_warn_gb: float = DEFAULT_DISK_WARN_GB,
                 gpu_interval: float = 5.0, gpu_absent_interval: float = 300.0,
                 gpu_source: Callable[[], GpuSnapshot] = gpu_snapshot,
                 clock: Callable[[], float] = time.monotonic):
        self.disk_path = Path(disk_path)
        self.disk_warn_bytes = int(disk_warn_gb * GIB)
        self.gpu_interval = gpu_interval
        self.gpu_absent_interval = gpu_absent_interval
        self._gpu_source = gpu_source
        self._clock = clock
        self._gpu: GpuSnapshot | None = None
        self._gpu_at = 0.0
        psutil.cpu_percent(interval=None)  # prime: the first reading is measured from here

    def gpu(self) -> GpuSnapshot:
        """The cached GPU snapshot, refreshed when it is older than its interval."""
        now = self._clock()
        if self._gpu is not None:
            ttl = self.gpu_interval if self._gpu.gpus else self.gpu_absent_interval
            if now - self._gpu_at < ttl:
                return self._gpu
        self._gpu = self._gpu_source()
        self._gpu_at = now
        return self._gpu

    def sample(self) -> SysStats:
        mem = psutil.virtual_memory()
        return SysStats(
            cpu_percent=float(psutil.cpu_percent(interval=None)),
            cpu_count=psutil.cpu_count() or 1,
            ram_used=int(mem.total - mem.available),
            ram_total=int(mem.total),
            ram_percent=float(mem.percent),
            disk=disk_info(self.disk_path, self.disk_warn_bytes),
            gpu=self.gpu(),
        )
