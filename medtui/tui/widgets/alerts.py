"""A run's live alerts and, once it ended badly, its diagnosis: the Monitor's alert panel, and the
short forms the Home cards use. The supervisor writes both into ``run.json``
(:mod:`medtui.core.runs.alerts`, :mod:`medtui.core.runs.diagnosis`); this only renders them.
Reasons and fixes come from the core in English; titles are bilingual here.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from medtui.tui.i18n import register, t

TEXT = register({
    "alert.nan_loss": ("NaN loss", "损失为 NaN"),
    "alert.loss_stuck": ("loss stuck", "损失不再变化"),
    "alert.loss_spike": ("loss spike", "损失突增"),
    "alert.grad_norm": ("grad_norm explosion", "梯度范数爆炸"),
    "alert.stalled": ("stalled", "运行停滞"),
    "alert.disk_low": ("disk low", "磁盘空间不足"),
    "cause.cuda_oom": ("GPU out of memory", "显存不足"),
    "cause.oom_killer": ("killed by the OOM killer", "被内核 OOM 终止"),
    "cause.host_oom": ("out of RAM", "内存不足"),
    "cause.signal": ("killed by a signal", "被信号终止"),
    "cause.disk_full": ("disk full", "磁盘已满"),
    "cause.nan_loss": ("loss became NaN", "损失变为 NaN"),
    "cause.insufficient_samples": ("too few samples", "样本不足"),
    "cause.no_valid_samples": ("no valid samples", "没有有效样本"),
    "cause.template": ("template mismatch", "模板不匹配"),
    "cause.nccl_timeout": ("NCCL timeout", "NCCL 超时"),
    "cause.nccl_error": ("NCCL error", "NCCL 错误"),
    "cause.version_pin": ("package version", "依赖版本不符"),
    "cause.keras3": ("Keras 3 clash", "Keras 3 冲突"),
    "cause.dataset_unreadable": ("unreadable data file", "数据文件无法读取"),
    "cause.unknown_argument": ("unknown argument", "未知参数"),
    "cause.undefined_dataset": ("unregistered dataset", "数据集未注册"),
    "cause.unknown": ("failed", "失败"),
    "diag.fix": ("fix", "解决"),
    "diag.why": ("why", "原因"),
})


def tr(key: str, lang: str = "en") -> str:
    """The title of an alert kind or a cause; one the table does not know shows as its bare name."""
    return t(key, lang) if key in TEXT else key.split(".", 1)[-1]


def open_alerts(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in record.get("alerts") or [] if isinstance(a, dict) and not a.get("resolved")]


def diagnosis_of(record: dict[str, Any]) -> dict[str, Any] | None:
    found = record.get("diagnosis")
    return found if isinstance(found, dict) and found.get("cause") else None


def short_diagnosis(diagnosis: dict[str, Any] | None, lang: str = "en") -> str:
    """One line for a Home card: the cause's title and the reason."""
    if not diagnosis:
        return ""
    return f"{tr('cause.' + diagnosis['cause'], lang)}: {diagnosis.get('reason', '')}"


def short_alerts(kinds: list[str] | tuple[str, ...], lang: str = "en") -> str:
    return ", ".join(tr(f"alert.{k}", lang) for k in kinds)


def render(record: dict[str, Any], lang: str = "en", *, max_lines: int = 5) -> Text:
    """The alert panel, one line per item (cut with an ellipsis): the diagnosis (cause and reason, fix),
    the open alerts not already explained by it, then the log line that shows the cause."""
    lines: list[Text] = []
    found = diagnosis_of(record)
    if found:
        bad = record.get("status") == "failed" or found["cause"] != "nan_loss"
        style = "bold red" if bad else "bold yellow"
        lines.append(Text.assemble(("✗ " if bad else "⚠ ", style), (f"{tr('cause.' + found['cause'], lang)}: ", style),
                                   found.get("reason", "")))
        lines.append(Text.assemble((f"  {tr('diag.fix', lang)}: ", "bold"), found.get("fix", "")))
    for alert in open_alerts(record):
        if found and alert.get("kind") == found["cause"]:
            continue  # the diagnosis says it already
        count = f" (x{alert['count']})" if alert.get("count", 1) > 1 else ""
        lines.append(Text.assemble(("⚠ ", "bold yellow"), (tr(f"alert.{alert.get('kind')}", lang), "bold yellow"),
                                   (f"{count}: {alert.get('message', '')}", "yellow")))
    evidence = (found or {}).get("evidence") or []
    if evidence:
        lines.append(Text(f"  | {evidence[-1]}", style="dim"))
    return Text("\n").join(lines[:max_lines])


class RunAlerts(Static):
    """The Monitor's alert panel; hidden while there is nothing to say."""

    DEFAULT_CSS = """
    RunAlerts { height: auto; max-height: 5; padding: 0 1; display: none; text-wrap: nowrap; text-overflow: ellipsis; }
    RunAlerts.-shown { display: block; }
    """

    def show(self, record: dict[str, Any], lang: str = "en") -> None:
        key = (repr(record.get("alerts")), repr(record.get("diagnosis")), record.get("status"), lang)
        if key == getattr(self, "_key", None):
            return
        self._key = key
        content = render(record, lang)
        self.set_class(bool(content.plain), "-shown")
        self.update(content)
