"""The Train screen's strings (English, Chinese) and the Chinese form of the core's field problems."""

from __future__ import annotations

import re

from medtui.tui.i18n import register

TEXT = register({
    "train.stage": ("Stage", "阶段"),
    "train.method": ("Method", "方法"),
    "train.preview": ("Preview", "预览"),
    "train.preview.title": ("Exactly what Start runs: working folder, environment and command, then the YAML",
                            "启动时实际执行的内容:工作目录、环境变量与命令,以及 YAML 配置"),
    "train.save": ("Save", "保存"),
    "train.load": ("Load", "加载"),
    "train.start": ("Start", "开始"),
    "train.browse": ("Browse", "浏览"),
    "train.find": ("Find", "查找字段"),
    "train.find.previous": ("Previous match", "上一个"),
    "train.find.next": ("Next match", "下一个"),
    "train.find.title": ("Jump to a field (Enter: go, Esc: close)", "跳转到字段(回车:跳转,Esc:关闭)"),
    "train.find.placeholder": ("part of a field name, e.g. epo", "字段名的一部分,如 epo"),
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
    "train.pick.model": ("Choose a model folder", "选择模型目录"),
    "train.pick.adapter": ("Choose an adapter folder", "选择适配器目录"),
    "train.pick.template": ("Choose a chat template (the installed llamafactory's)",
                            "选择对话模板(已安装 llamafactory 的模板)"),
    "train.pick.output": ("Choose an output folder", "选择输出目录"),
    "train.pick.dataset": ("Datasets that fit stage {stage} (space: toggle, enter: done)",
                           "适用于 {stage} 阶段的数据集(空格:选择,回车:完成)"),
    "train.nopicker": ("This field has no picker; type a value.", "此字段没有选择器,请直接输入。"),
    "train.new": ("new: {path}", "新建:{path}"),
    "train.nopreview": ("Fix the marked fields to see the preview.", "请先修正标出的字段再预览。"),
})

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
