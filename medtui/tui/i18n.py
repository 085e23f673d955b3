"""UI strings in English and Chinese. Stage-argument labels and help come from the spec instead."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

TEXT: dict[str, tuple[str, str]] = {
    # navigation (footer labels are short; palette titles are long)
    "nav.home": ("Home", "首页"),
    "nav.environment": ("Env", "环境"),
    "nav.models": ("Models", "模型"),
    "nav.datasets": ("Data", "数据"),
    "nav.train": ("Train", "训练"),
    "nav.runs": ("Runs", "运行"),
    "nav.chat": ("Chat", "对话"),
    "nav.export": ("Export", "导出"),
    "title.home": ("Home: the fine-tuning lifecycle", "首页:微调全流程"),
    "title.environment": ("Environment", "运行环境"),
    "title.models": ("Models", "模型管理"),
    "title.datasets": ("Datasets", "数据集"),
    "title.train": ("Train: stage form", "训练:阶段参数表单"),
    "title.runs": ("Runs", "运行记录"),
    "title.chat": ("Chat", "对话测试"),
    "title.export": ("Export", "模型导出"),
    "app.quit": ("Quit", "退出"),
    "app.language": ("中文", "EN"),
    "palette.go": ("Go to {title}", "前往{title}"),
    "palette.language": ("Switch language: English / 中文", "切换语言:English / 中文"),
    "palette.language.help": ("Toggle the interface language (ctrl+t)", "切换界面语言(ctrl+t)"),
    "palette.pipeline": ("Queue the remaining lifecycle stages", "排队运行剩余的流程阶段"),
    "palette.predict": ("Evaluate & predict (BLEU-4, ROUGE)", "评估与预测(BLEU-4、ROUGE)"),
    "palette.pipeline.help": ("Run the stages that have not succeeded yet, like `medtui pipeline`",
                              "依次运行尚未成功的阶段,与 `medtui pipeline` 相同"),
    # home
    "home.open": ("Open form", "打开表单"),
    "home.pipeline": ("Queue rest", "运行剩余"),
    "home.refresh": ("Refresh", "刷新"),
    "home.never": ("not run yet", "尚未运行"),
    "home.loss": ("loss {loss}", "损失 {loss}"),
    "home.noloss": ("loss –", "损失 –"),
    "home.ago": ("{age} ago", "{age} 前"),
    "home.hint": ("Enter: open form · p: queue the rest · ctrl+t: 中文 · ctrl+p: commands",
                  "回车:打开表单 · p:运行剩余阶段 · ctrl+t:English · ctrl+p:命令"),
    "home.nopipeline": ("No pipeline for this workspace: add {file} (same format as `medtui pipeline FILE`).",
                        "此工作区没有流程文件:请添加 {file}(格式同 `medtui pipeline FILE`)。"),
    "home.alldone": ("Every stage of pipeline {name} has succeeded; nothing to queue.",
                     "流程 {name} 的所有阶段均已成功,无需排队。"),
    "home.busy": ("Run {run} is still going; queue the rest when it has finished.",
                  "运行 {run} 仍在进行,请在其结束后再排队剩余阶段。"),
    "home.confirm": ("Queue {n} stage(s) of pipeline {name}: {stages}?", "排队运行流程 {name} 的 {n} 个阶段:{stages}?"),
    "home.export.which": ("Export: merge which branch?", "导出:合并哪个分支?"),
    "home.export.branch": ("merged {branch}", "合并了 {branch}"),
    "home.queue.started": ("Pipeline {name} started as run {run}; it goes on if you quit medtui",
                           "流程 {name} 已作为运行 {run} 启动;退出 medtui 也会继续"),
    "home.queue.stopped": ("Pipeline {name} stopped: {reason}", "流程 {name} 已停止:{reason}"),
    "home.confirm.note": ("The chain runs in a process of its own: quitting medtui or losing SSH stops no "
                          "stage. Stop it with `medtui stop RUN`.",
                          "整条流程在独立进程中运行:退出 medtui 或断开 SSH 不会中断任何阶段。用 `medtui stop RUN` 停止。"),
    "home.queue.start": ("Pipeline {name}: stage {stage} starting", "流程 {name}:阶段 {stage} 开始"),
    "home.queue.end": ("Pipeline {name}: stage {stage} {status}", "流程 {name}:阶段 {stage} {status}"),
    "home.queue.done": ("Pipeline {name} finished: {n} stage(s) succeeded", "流程 {name} 完成:{n} 个阶段成功"),
    "home.queue.failed": ("Pipeline {name} stopped at {stage}: {reason}", "流程 {name} 停在 {stage}:{reason}"),
    "home.queue.running": ("▶ pipeline {name}: {stage} running, {done}/{n} done ({run}; goes on after you quit)",
                           "▶ 流程 {name}:{stage} 运行中,已完成 {done}/{n}({run};退出后继续)"),
    "home.queue.between": ("▶ pipeline {name}: starting the next stage, {done}/{n} done ({run})",
                           "▶ 流程 {name}:正在启动下一阶段,已完成 {done}/{n}({run})"),
    "home.workspace": ("Workspace {path}", "工作区 {path}"),
    "status.pending": ("pending (queued)", "排队中"),
    "status.running": ("running", "运行中"),
    "status.succeeded": ("succeeded", "成功"),
    "status.failed": ("failed", "失败"),
    "status.stopped": ("stopped", "已停止"),
    "status.killed": ("killed", "已强制终止"),
    "yes": ("Yes", "确定"),
    "no": ("No", "取消"),
    # train
    "train.stage": ("Stage", "阶段"),
    "train.method": ("Method", "方法"),
    "train.form": ("Form", "表单"),
    "train.preview": ("Preview", "预览"),
    "train.preview.title": ("Exactly what Start runs: working folder, environment and command, then the YAML",
                            "启动时实际执行的内容:工作目录、环境变量与命令,以及 YAML 配置"),
    "train.save": ("Save", "保存"),
    "train.load": ("Load", "加载"),
    "train.start": ("Start", "开始"),
    "train.browse": ("Browse", "浏览"),
    "train.extras": ("Other keys (key: value)", "其他参数(键: 值)"),
    "train.extras.help": ("Keys the form has no field for, one `key: value` per line (YAML). They pass through "
                          "to the llamafactory YAML untouched.",
                          "表单中没有的参数,每行一个 `键: 值`(YAML 格式),原样写入 llamafactory 配置。"),
    "train.extras.bad": ("not a YAML mapping of key: value lines", "不是 `键: 值` 形式的 YAML"),
    "train.extras.reserved": ("{key} belongs in the form, not here", "{key} 请在表单中填写"),
    "train.default": ("default: {value}", "默认:{value}"),
    "train.unset": ("(default)", "(默认)"),
    "train.profile": ("cluster profile: {value}", "集群配置:{value}"),
    "train.fix": ("Fix the marked fields first; nothing was started.", "请先修正标出的字段,未启动任何运行。"),
    "train.preflight": ("Pre-flight found problems; nothing was started.", "启动前检查发现问题,未启动任何运行。"),
    "train.checking": ("Running the pre-flight checks…", "正在进行启动前检查…"),
    "train.started": ("Started {run}", "已启动 {run}"),
    "train.saved": ("Saved {path}, a standalone llamafactory YAML: {command}",
                    "已保存 {path}(独立的 llamafactory 配置):{command}"),
    "train.dropped": ("Left out, they do not apply to this stage or method: {keys}",
                      "已略去不适用于当前阶段或方法的参数:{keys}"),
    "train.loaded": ("Loaded {path}", "已加载 {path}"),
    "train.savepath": ("Save the config as (llamafactory YAML)", "保存配置为(llamafactory YAML)"),
    "train.loadpath": ("Load a llamafactory YAML, or a LlamaBoard output folder",
                       "加载 llamafactory YAML 配置,或 LlamaBoard 输出目录"),
    "train.nochoices": ("Nothing to choose from in this workspace.", "此工作区中没有可选项。"),
    "train.pick.model": ("Choose a model folder", "选择模型目录"),
    "train.pick.adapter": ("Choose an adapter folder", "选择适配器目录"),
    "train.pick.template": ("Choose a chat template (the installed llamafactory's)", "选择对话模板(已安装 llamafactory 的模板)"),
    "train.pick.output": ("Choose an output folder", "选择输出目录"),
    "train.pick.dataset": ("Datasets that fit stage {stage} (space: toggle, enter: done)",
                           "适用于 {stage} 阶段的数据集(空格:选择,回车:完成)"),
    "train.nopicker": ("This field has no picker; type a value.", "此字段没有选择器,请直接输入。"),
    "train.new": ("new: {path}", "新建:{path}"),
    "train.nopreview": ("Fix the marked fields to see the preview.", "请先修正标出的字段再预览。"),
    "train.required": ("required", "必填"),
    # dialogs
    "dialog.cancel": ("Cancel", "取消"),
    "dialog.ok": ("OK", "确定"),
    "dialog.close": ("Close", "关闭"),
}


#: Field-check messages of medtui.core.stages.validate, as patterns, with their Chinese form.
PROBLEM_ZH: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), zh) for p, zh in (
    (r"^is required$", "必填"),
    (r"^must be a whole number$", "必须是整数"),
    (r"^must be a number, e\.g\. 5e-5$", "必须是数字,如 5e-5"),
    (r"^must be a number$", "必须是数字"),
    (r"^must be a finite number$", "必须是有限的数字"),
    (r"^must be true or false$", "必须是 true 或 false"),
    (r"^must be one of (.*)$", r"必须是以下之一:\1"),
    (r"^must be at least (.*)$", r"不能小于 \1"),
    (r"^must be at most (.*)$", r"不能大于 \1"),
    (r"^choose either bf16 or fp16, not both$", "bf16 与 fp16 只能选一个"),
))


def problem_text(message: str, lang: str) -> str:
    """A field problem in ``lang``; messages without a translation stay as the core wrote them."""
    if lang == "zh":
        for pattern, zh in PROBLEM_ZH:
            if pattern.match(message):
                return pattern.sub(zh, message)
    return message


def t(key: str, lang: str = "en", **fmt: Any) -> str:
    """The text for ``key`` in ``lang`` (English when unknown), formatted with ``fmt``."""
    en, zh = TEXT.get(key, (key, key))
    text = zh if lang == "zh" else en
    return text.format(**fmt) if fmt else text


def localise_bindings(node: Any, lang: str) -> None:
    """Rewrite the footer descriptions of ``node``'s bindings whose id has a text entry.

    Textual bindings are immutable and hold one description; the footer reads them from the
    node's bindings map, so language switching swaps in translated copies.
    """
    bindings = getattr(node, "_bindings", None)
    if bindings is None:
        return
    for key, items in bindings.key_to_bindings.items():
        bindings.key_to_bindings[key] = [
            replace(b, description=t(b.id, lang)) if b.id and b.id in TEXT else b for b in items
        ]
