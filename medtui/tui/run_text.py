"""English and Chinese labels for the Runs and Monitor screens and the gauges.

``text(lang, key, **values)`` falls back to English, then to the key. ``localise_bindings``
swaps a node's footer descriptions for the ones of its language, matched by binding id.
"""

from __future__ import annotations

from dataclasses import replace

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "runs.title": "Runs",
        "runs.empty": "No runs in this workspace yet. Start one from Train or with `medtui train`.",
        "runs.marked_max": "Up to four runs can be compared.",
        "runs.compare_need": "Mark two to four runs with space, then press c to compare.",
        "runs.marked": "{n} marked",
        "col.mark": " ",
        "col.id": "Run",
        "col.stage": "Stage",
        "col.status": "Status",
        "col.output": "Output",
        "col.started": "Started",
        "col.duration": "Duration",
        "col.loss": "Final loss",
        "status.running": "running",
        "status.succeeded": "succeeded",
        "status.failed": "failed",
        "status.stopped": "stopped",
        "status.stopping": "stopping",
        "runs.open": "Open",
        "runs.mark": "Mark",
        "runs.compare": "Compare",
        "runs.back": "Back",
        "monitor.stop": "Stop",
        "monitor.kill": "Kill",
        "monitor.pause_log": "Pause log",
        "monitor.back": "Back",
        "monitor.title": "Monitor",
        "monitor.compare_title": "Compare {n} runs",
        "monitor.loss": "Loss",
        "monitor.raw": "raw",
        "monitor.smoothed": "smoothed",
        "monitor.lr": "Learning rate",
        "monitor.accuracy": "Accuracy",
        "monitor.reward": "Reward",
        "monitor.step": "step",
        "monitor.log": "Log",
        "monitor.log_paused": "Log (paused, {n} new lines)",
        "monitor.elapsed": "elapsed",
        "monitor.eta": "ETA",
        "monitor.waiting": "waiting for the first trainer log line",
        "monitor.not_running": "Run {id} is not running ({status}).",
        "monitor.missing": "Run {id} not found in this workspace.",
        "confirm.stop": "Stop run {id}?\nThe trainer saves and stops after the current step.",
        "confirm.kill": "Kill run {id}?\nIts processes are killed at once; nothing is saved.",
        "confirm.yes": "Yes",
        "confirm.no": "No",
        "gauges.cpu": "CPU",
        "gauges.ram": "RAM",
        "gauges.disk": "Disk",
        "gauges.free": "free",
        "gauges.low_disk": "low: under {gb:.0f} GB free",
        "gauges.no_gpu": "GPU: {reason}",
        "gauges.sampling": "sampling…",
    },
    "zh": {
        "runs.title": "运行记录",
        "runs.empty": "此工作区还没有运行记录。可在训练页或用 `medtui train` 启动。",
        "runs.marked_max": "最多可对比四个运行。",
        "runs.compare_need": "用空格标记二到四个运行，再按 c 对比。",
        "runs.marked": "已标记 {n} 个",
        "col.mark": " ",
        "col.id": "运行",
        "col.stage": "阶段",
        "col.status": "状态",
        "col.output": "输出目录",
        "col.started": "开始时间",
        "col.duration": "时长",
        "col.loss": "最终损失",
        "status.running": "运行中",
        "status.succeeded": "已完成",
        "status.failed": "失败",
        "status.stopped": "已停止",
        "status.stopping": "正在停止",
        "runs.open": "打开",
        "runs.mark": "标记",
        "runs.compare": "对比",
        "runs.back": "返回",
        "monitor.stop": "停止",
        "monitor.kill": "强制终止",
        "monitor.pause_log": "暂停日志",
        "monitor.back": "返回",
        "monitor.title": "监控",
        "monitor.compare_title": "对比 {n} 个运行",
        "monitor.loss": "损失",
        "monitor.raw": "原始",
        "monitor.smoothed": "平滑",
        "monitor.lr": "学习率",
        "monitor.accuracy": "准确率",
        "monitor.reward": "奖励",
        "monitor.step": "步",
        "monitor.log": "日志",
        "monitor.log_paused": "日志（已暂停，{n} 行新内容）",
        "monitor.elapsed": "已用时",
        "monitor.eta": "剩余",
        "monitor.waiting": "等待第一条训练日志",
        "monitor.not_running": "运行 {id} 未在运行（{status}）。",
        "monitor.missing": "此工作区中找不到运行 {id}。",
        "confirm.stop": "停止运行 {id}？\n训练器会在当前步结束后保存并停止。",
        "confirm.kill": "强制终止运行 {id}？\n进程会被立即杀死，不保存任何内容。",
        "confirm.yes": "是",
        "confirm.no": "否",
        "gauges.cpu": "CPU",
        "gauges.ram": "内存",
        "gauges.disk": "磁盘",
        "gauges.free": "可用",
        "gauges.low_disk": "空间不足：可用少于 {gb:.0f} GB",
        "gauges.no_gpu": "GPU：{reason}",
        "gauges.sampling": "采样中…",
    },
}


def text(lang: str, key: str, **values) -> str:
    template = LABELS.get(lang, {}).get(key) or LABELS["en"].get(key) or key
    return template.format(**values) if values else template


def localise_bindings(node, lang: str) -> None:
    """Give ``node``'s bindings the descriptions of ``lang`` (looked up by binding id)."""
    table = node._bindings.key_to_bindings
    for key, bindings in list(table.items()):
        table[key] = [replace(b, description=text(lang, b.id)) if b.id and b.id in LABELS["en"] else b
                      for b in bindings]
