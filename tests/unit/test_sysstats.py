"""System gauges: psutil values, disk threshold, GPU caching, CUDA_VISIBLE_DEVICES, and rendering."""

from __future__ import annotations

import time

import psutil
import pytest
from textual.app import App
from tui_helpers import NO_GPU, TWO_GPUS, FixedSampler, wait_until

from medtui.core.env import gpu
from medtui.core.env.sysstats import GIB, MEMORY_LEVELS, UTIL_LEVELS, Sampler, disk_info, level, nearest_existing
from medtui.core.workspace import Workspace
from medtui.tui.widgets.gauges import Gauges, bar

UUIDS = ["GPU-aaaa1111-0000", "GPU-bbbb2222-0000", "GPU-cccc3333-0000"]


@pytest.mark.parametrize("spec, expected", [
    (None, [0, 1, 2]),
    ("", []),
    ("2,0", [2, 0]),
    ("1", [1]),
    ("0,7,1", [0]),            # CUDA stops at the first invalid ordinal
    ("-1", []),
    ("GPU-bbbb2222", [1]),     # UUID prefix
    ("cccc3333-0000", [2]),    # UUID without the GPU- prefix
    ("0, 2", [0, 2]),
    ("GPU-ffff,0", []),        # an unknown UUID hides everything after it
])
def test_visible_devices_mapping(monkeypatch, spec, expected):
    if spec is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", spec)
    assert gpu._visible(3, UUIDS) == expected


def test_snapshot_explains_missing_gpu():
    snap = gpu.snapshot()
    if snap.gpus:
        pytest.skip("this machine has a usable NVIDIA GPU")
    assert snap.reason, "an empty GPU list must come with a reason"


def test_ram_and_disk_come_from_psutil(tmp_path):
    stats = Sampler(tmp_path).sample()
    mem = psutil.virtual_memory()
    assert stats.ram_total == mem.total
    assert abs(stats.ram_used - (mem.total - mem.available)) < 0.05 * mem.total
    assert abs(stats.ram_percent - mem.percent) < 5.0
    usage = psutil.disk_usage(str(tmp_path))
    assert stats.disk is not None and stats.disk.total == usage.total
    assert abs(stats.disk.free - usage.free) < 512 * 1024**2
    assert stats.cpu_count == psutil.cpu_count()


def test_cpu_percent_sees_a_busy_core(tmp_path):
    sampler = Sampler(tmp_path)
    sampler.sample()
    deadline = time.perf_counter() + 0.6
    while time.perf_counter() < deadline:  # keep one core busy
        pass
    busy = sampler.sample().cpu_percent
    assert 0.0 <= busy <= 100.0
    assert busy >= 0.5 * 100.0 / psutil.cpu_count(), f"one busy core should show, got {busy}%"


def test_disk_warning_threshold(tmp_path):
    free_gb = psutil.disk_usage(str(tmp_path)).free / GIB
    above = Sampler(tmp_path, disk_warn_gb=free_gb + 5).sample().disk
    assert above.warning and above.level == "heavy"
    below = Sampler(tmp_path, disk_warn_gb=0).sample().disk
    assert not below.warning and below.level == "light"
    near = Sampler(tmp_path, disk_warn_gb=max(free_gb * 0.75, 0.001)).sample().disk
    assert not near.warning and near.level == "moderate"


def test_disk_of_a_folder_that_does_not_exist_yet(tmp_path):
    saves = tmp_path / "ws" / "saves"
    assert nearest_existing(saves) == tmp_path
    info = disk_info(saves, 0)
    assert info is not None and info.path == saves and info.probed == tmp_path


def test_gpu_snapshot_is_cached(tmp_path):
    calls, now = [], [0.0]

    def source():
        calls.append(now[0])
        return TWO_GPUS

    sampler = Sampler(tmp_path, gpu_interval=5.0, gpu_source=source, clock=lambda: now[0])
    sampler.sample()
    now[0] = 4.0
    sampler.sample()
    assert len(calls) == 1
    now[0] = 5.5
    assert sampler.sample().gpu.gpus == TWO_GPUS.gpus
    assert len(calls) == 2


def test_missing_nvml_is_asked_again_rarely(tmp_path):
    calls, now = [], [0.0]

    def source():
        calls.append(now[0])
        return NO_GPU

    sampler = Sampler(tmp_path, gpu_interval=5.0, gpu_absent_interval=300.0, gpu_source=source,
                      clock=lambda: now[0])
    for t in (0.0, 10.0, 200.0):
        now[0] = t
        assert sampler.sample().gpu.reason == NO_GPU.reason
    assert len(calls) == 1
    now[0] = 301.0
    sampler.sample()
    assert len(calls) == 2


def test_levels_and_bars():
    assert level(None, UTIL_LEVELS) == "na"
    assert [level(p, UTIL_LEVELS) for p in (5, 10, 74.9, 75, 100)] == ["light", "moderate", "moderate", "heavy", "heavy"]
    assert level(85, MEMORY_LEVELS) == "heavy" and level(79, MEMORY_LEVELS) == "moderate"
    assert bar(50, 4) == "██  "
    assert bar(100, 3) == "███"
    assert bar(0, 3) == "   "
    assert bar(None, 3) == "   "
    assert bar(1 / 8 * 100 / 4, 4) == "▏   "  # one eighth of one cell
    assert bar(150, 2) == "██"


class GaugeHost(App):
    def __init__(self, sampler):
        super().__init__()
        self.sampler = sampler

    def compose(self):
        yield Gauges(self.sampler, interval=0.1, disk_label="saves/")


async def _rendered(sampler, size=(80, 10)) -> str:
    app = GaugeHost(sampler)
    async with app.run_test(size=size) as pilot:
        gauges = app.query_one(Gauges)
        await wait_until(pilot, lambda: gauges.stats is not None, what="a gauge sample")
        return str(gauges.render())


async def test_gauges_show_the_no_gpu_explanation(tmp_path):
    ws = Workspace.open(tmp_path)
    out = await _rendered(FixedSampler(ws, gpu=NO_GPU))
    assert "GPU: no GPU / NVML not available (NVML Shared Library Not Found)" in out
    assert "CPU" in out and " 38%" in out and "6.0/24.0 GB" in out


async def test_gauges_show_each_gpu_and_na_values(tmp_path):
    ws = Workspace.open(tmp_path)
    out = await _rendered(FixedSampler(ws, gpu=TWO_GPUS), size=(120, 10))
    lines = out.splitlines()
    gpu0 = next(ln for ln in lines if ln.startswith("GPU0"))
    gpu1 = next(ln for ln in lines if ln.startswith("GPU1"))
    assert " 87%" in gpu0 and "60.0/80.0G" in gpu0 and "71°C" in gpu0 and "350/700W" in gpu0
    assert "N/A W" in gpu1  # power not reported: explicit N/A, never a made-up value


async def test_gauges_warn_when_disk_is_low(tmp_path):
    ws = Workspace.open(tmp_path)
    assert "low: under 10 GB free" in await _rendered(FixedSampler(ws, free_gb=4.0))
    assert "low:" not in await _rendered(FixedSampler(ws, free_gb=400.0))


async def test_gauges_with_the_real_sampler(tmp_path):
    """The real sampler on this machine: psutil values and, without NVML, the explanation."""
    free_gb = psutil.disk_usage(str(tmp_path)).free / GIB
    out = await _rendered(Sampler(tmp_path, disk_warn_gb=free_gb + 1))
    assert "low: under" in out
    snap = gpu.snapshot()
    if not snap.gpus:
        assert snap.reason in out


async def test_monitor_passes_its_disk_threshold_to_the_gauges(tmp_path):
    from medtui.tui.screens.runs.monitor import MonitorScreen

    ws = Workspace.open(tmp_path / "ws")
    free_gb = psutil.disk_usage(str(tmp_path)).free / GIB
    screen = MonitorScreen(ws, "none", disk_warn_gb=free_gb + 1)
    stats = screen.sampler.sample()
    assert stats.disk.warning and stats.disk.path == ws.saves_dir
