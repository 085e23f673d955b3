"""CPU, RAM, disk and GPU gauges, sampled by :class:`medtui.core.env.sysstats.Sampler` in a thread.

A :class:`~medtui.tui.polling.Poller` samples while the screen is shown and posts :class:`Gauges.Sampled`; the widget keeps the newest stats
and renders them with eighth-block bars coloured light/moderate/heavy like nvitop, an explicit
``N/A`` for missing values, and a one-line explanation when there is no usable GPU.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widget import Widget

from medtui.core.env.gpu import GpuInfo
from medtui.core.env.sysstats import GIB, MEMORY_LEVELS, UTIL_LEVELS, SysStats, level
from medtui.tui.i18n import register, t
from medtui.tui.polling import Poller

register({
    "gauges.cpu": ("CPU", "CPU"),
    "gauges.ram": ("RAM", "内存"),
    "gauges.disk": ("Disk", "磁盘"),
    "gauges.free": ("free", "可用"),
    "gauges.low_disk": ("low: under {gb:.0f} GB free", "空间不足：可用少于 {gb:.0f} GB"),
    "gauges.no_gpu": ("GPU: {reason}", "GPU：{reason}"),
    "gauges.sampling": ("sampling…", "采样中…"),
})

LEVEL_STYLE = {"light": "green", "moderate": "yellow", "heavy": "bold red", "na": "dim"}
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(percent: float | None, width: int) -> str:
    """A bar of ``width`` cells filled to ``percent`` with eighth-block precision."""
    if percent is None or width <= 0:
        return " " * max(width, 0)
    eighths = round(max(0.0, min(100.0, percent)) / 100.0 * width * 8)
    full, part = divmod(eighths, 8)
    cells = "█" * full + (_EIGHTHS[part] if part else "")
    return cells.ljust(width)


def _gb(n: int) -> str:
    return f"{n / GIB:.1f}"


class Gauges(Widget):
    """System gauges; ``sampler`` is anything with ``sample() -> SysStats``."""

    DEFAULT_CSS = """
    Gauges { height: auto; padding: 0 1; }
    """

    class Sampled(Message):
        """Fresh stats from the sampling thread (only the newest one matters)."""

        def __init__(self, stats: SysStats) -> None:
            super().__init__()
            self.stats = stats

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, Gauges.Sampled)

    def __init__(self, sampler, *, interval: float = 2.0, lang: str = "en", disk_label: str = "saves/",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.sampler = sampler
        self.interval = interval
        self.lang = lang
        self.disk_label = disk_label
        self.stats: SysStats | None = None

    def set_lang(self, lang: str) -> None:
        self.lang = lang
        self.refresh()

    def sample_every(self, seconds: float) -> None:
        """Sample every ``seconds`` from now on (the Monitor's light refresh)."""
        self.interval = seconds
        if getattr(self, "poller", None) is not None:
            self.poller.set_interval(seconds)

    def on_mount(self) -> None:
        self.poller = Poller(self, self.interval, self._sample, group="gauges", active=lambda: self.screen.is_current)
        self.poller.tick()

    def _sample(self) -> None:
        self.post_message(self.Sampled(self.sampler.sample()))

    @on(Sampled)
    def _on_sampled(self, message: Sampled) -> None:
        message.stop()
        old_lines = None if self.stats is None else len(self.stats.gpu.gpus)
        self.stats = message.stats
        self.refresh(layout=old_lines != len(message.stats.gpu.gpus))

    # -- rendering -------------------------------------------------------------------------

    def _gauge(self, out: Text, label: str, percent: float | None, thresholds, width: int, tail: str) -> None:
        style = LEVEL_STYLE[level(percent, thresholds)]
        out.append(f"{label} ", style="bold")
        out.append("▕")
        out.append(bar(percent, width), style=style)
        out.append("▏")
        out.append(f"{percent:3.0f}%" if percent is not None else " N/A", style=style)
        if tail:
            out.append(f" {tail}")

    def _disk(self, out: Text, stats: SysStats) -> None:
        out.append(f"{t('gauges.disk', self.lang)} {self.disk_label} ", style="bold")
        disk = stats.disk
        if disk is None:
            out.append("N/A", style="dim")
            return
        style = LEVEL_STYLE[disk.level]
        out.append(f"{_gb(disk.free)} GB {t('gauges.free', self.lang)}", style=style)
        out.append(f" / {_gb(disk.total)} GB")
        if disk.warning:
            out.append("  ⚠ " + t("gauges.low_disk", self.lang, gb=disk.warn_bytes / GIB), style="bold red")

    def _gpu_line(self, out: Text, gpu: GpuInfo, wide: bool) -> None:
        width = 10 if wide else 6
        name = gpu.name if wide else gpu.name.replace("NVIDIA ", "")[:12]
        out.append(f"GPU{gpu.index} {name} ", style="bold")
        self._gauge(out, "util", gpu.utilization, UTIL_LEVELS, width, "")
        mem_pct = 100.0 * gpu.memory_used / gpu.memory_total if gpu.memory_total else None
        out.append(" ")
        self._gauge(out, "mem", mem_pct, MEMORY_LEVELS, width, f"{_gb(gpu.memory_used)}/{_gb(gpu.memory_total)}G")
        out.append(f" {gpu.temperature}°C" if gpu.temperature is not None else " N/A°C")
        if gpu.power_w is not None:
            limit = f"/{gpu.power_limit_w:.0f}" if gpu.power_limit_w else ""
            out.append(f" {gpu.power_w:.0f}{limit}W")
        else:
            out.append(" N/A W")

    def render(self) -> Text:
        stats = self.stats
        if stats is None:
            return Text(t("gauges.sampling", self.lang), style="dim")
        wide = self.size.width >= 100
        width = 12 if wide else 8
        out = Text(no_wrap=True, overflow="ellipsis")
        self._gauge(out, t("gauges.cpu", self.lang), stats.cpu_percent, UTIL_LEVELS, width,
                    f"×{stats.cpu_count}")
        out.append("  ")
        self._gauge(out, t("gauges.ram", self.lang), stats.ram_percent, MEMORY_LEVELS, width,
                    f"{_gb(stats.ram_used)}/{_gb(stats.ram_total)} GB")
        out.append("\n")
        self._disk(out, stats)
        if stats.gpu.gpus:
            for gpu in stats.gpu.gpus:
                out.append("\n")
                self._gpu_line(out, gpu, wide)
        else:
            out.append("\n")
            out.append(t("gauges.no_gpu", self.lang, reason=stats.gpu.reason or "N/A"), style="dim")
        return out
