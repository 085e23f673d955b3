"""The UI's strings in English and Chinese: one table format, ``{key: (english, chinese)}``.

The shell's strings (navigation, screen titles, run statuses, dialogs) are here; each screen
package adds its own table from its ``text`` module with :func:`register`, keyed
``<screen>.<what>``. A binding's id is also the key of its footer label, so
:func:`localise_bindings` can relabel any node's bindings. Stage-argument labels and help come
from the spec instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

Table = dict[str, tuple[str, str]]

#: Every string the UI knows, filled by :func:`register` as screen modules are imported.
TEXT: Table = {}


def register(table: Table) -> Table:
    """Add ``table`` to the app's strings; a key defined twice with different text is a bug."""
    for key, pair in table.items():
        if key in TEXT and TEXT[key] != pair:
            raise ValueError(f"UI text {key!r} is defined twice: {TEXT[key]!r} and {pair!r}")
        TEXT[key] = pair
    return table


def t(key: str, lang: str = "en", /, **fmt: Any) -> str:
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


@dataclass(frozen=True)
class Phrase:
    """A text key and its values, to be shown in whatever language is current (``str`` values are literal)."""

    key: str
    fmt: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        return t(self.key, lang, **{k: text_of(v, lang) for k, v in self.fmt.items()})


def phrase(key: str, **fmt: Any) -> Phrase:
    return Phrase(key, fmt)


def text_of(value: str | Phrase, lang: str) -> str:
    """A literal string as it is, a :class:`Phrase` in ``lang``."""
    return value.text(lang) if isinstance(value, Phrase) else value


#: The attribute a widget's translated texts are remembered in: ``{attribute: Phrase}``.
MARKS = "_medtui_phrases"


def _set_text(widget: Any, attr: str, text: str) -> None:
    if attr == "content":
        widget.update(text)
    elif attr == "tab":
        widget._title = widget.render_str(text)  # before mount; afterwards its Tab carries the label
        tabbed = next((a for a in widget.ancestors if type(a).__name__ == "TabbedContent"), None)
        if tabbed is not None and widget.id:
            tabbed.get_tab(widget.id).label = text
    else:
        setattr(widget, attr, text)


def default_attr(widget: Any) -> str:
    """Which text of ``widget`` a translation goes to, by its kind."""
    from textual.widgets import Button, Collapsible, Input, Select, TabPane
    from textual.widgets._toggle_button import ToggleButton

    if isinstance(widget, (Button, ToggleButton)):
        return "label"
    if isinstance(widget, Input):
        return "placeholder"
    if isinstance(widget, Select):
        return "prompt"
    if isinstance(widget, TabPane):
        return "tab"
    if isinstance(widget, Collapsible):
        return "title"
    return "content"


def mark(widget: Any, value: str | Phrase, lang: str, attr: str | None = None) -> Any:
    """Show ``value`` on ``widget`` (a :class:`Phrase` is remembered, so a language switch relabels it)."""
    attr = attr or default_attr(widget)
    marks = widget.__dict__.setdefault(MARKS, {})
    if isinstance(value, Phrase):
        marks[attr] = value
    else:
        marks.pop(attr, None)
    _set_text(widget, attr, text_of(value, lang))
    return widget


def relabel_marked(widget: Any, lang: str) -> None:
    """Show ``widget``'s remembered phrases in ``lang``."""
    for attr, value in widget.__dict__.get(MARKS, {}).items():
        _set_text(widget, attr, value.text(lang))


register({
    # navigation (footer labels are short; palette titles are long)
    "nav.home": ("Home", "首页"),
    "nav.environment": ("Env", "环境"),
    "nav.models": ("Models", "模型"),
    "nav.datasets": ("Data", "数据"),
    "nav.train": ("Train", "训练"),
    "nav.runs": ("Runs", "运行"),
    "nav.chat": ("Chat", "对话"),
    "nav.export": ("Export", "导出"),
    "nav.predict": ("Predict", "预测"),
    "title.home": ("Home: the fine-tuning lifecycle", "首页:微调全流程"),
    "title.environment": ("Environment", "运行环境"),
    "title.models": ("Models", "模型管理"),
    "title.datasets": ("Datasets", "数据集"),
    "title.train": ("Train: stage form", "训练:阶段参数表单"),
    "title.runs": ("Runs", "运行记录"),
    "title.chat": ("Chat", "对话测试"),
    "title.export": ("Export", "模型导出"),
    "app.quit": ("Quit", "退出"),
    "app.help": ("Keys", "按键"),
    "help.close": ("Close", "关闭"),
    "help.screen": ("On this screen", "本页"),
    "help.everywhere": ("Everywhere", "所有页面"),
    "help.palette": ("Commands: every screen and action", "命令面板:所有页面和操作"),
    "app.language": ("中文", "EN"),
    "palette.go": ("Go to {title}", "前往{title}"),
    "palette.language": ("Switch language: English / 中文", "切换语言:English / 中文"),
    "palette.language.help": ("Toggle the interface language (ctrl+t)", "切换界面语言(ctrl+t)"),
    "palette.pipeline": ("Queue the remaining lifecycle stages", "排队运行剩余的流程阶段"),
    "palette.new_run": ("New run: {stage} · {title}", "新建运行:{stage} · {title}"),
    "palette.new_run.help": ("The Train form, filled from the earlier stages' outputs",
                             "训练表单,由前面阶段的输出自动填写"),
    "palette.latest": ("Open the latest run: {run}", "打开最新运行:{run}"),
    "palette.stop": ("Stop run {run}", "停止运行 {run}"),
    "palette.stop.help": ("Asks first; the trainer saves and stops", "先确认;训练器保存后停止"),
    "palette.stop.confirm": ("Stop run {run}?\nThe trainer saves and stops after the current step.",
                             "停止运行 {run}?\n训练器会在当前步结束后保存并停止。"),
    "palette.stopped": ("Run {run}: {status}", "运行 {run}:{status}"),
    "palette.dataset": ("Open dataset {name}", "打开数据集 {name}"),
    "palette.predict": ("Evaluate & predict (BLEU-4, ROUGE)", "评估与预测(BLEU-4、ROUGE)"),
    "palette.pipeline.help": ("Run the stages that have not succeeded yet, like `medtui pipeline`",
                              "依次运行尚未成功的阶段,与 `medtui pipeline` 相同"),
    # run statuses (Home, Runs, Monitor)
    "status.pending": ("pending", "排队中"),
    "status.running": ("running", "运行中"),
    "status.succeeded": ("succeeded", "已完成"),
    "status.failed": ("failed", "失败"),
    "status.stopped": ("stopped", "已停止"),
    "status.killed": ("killed", "已强制终止"),
    "status.stopping": ("stopping", "正在停止"),
    "pick.model": ("Choose a model", "选择模型"),
    "yes": ("Yes", "确定"),
    "no": ("No", "取消"),
    # dialogs
    "confirm.yes": ("Yes", "确定"),
    "confirm.no": ("No", "取消"),
    "dialog.keyed": ("{label} ({key})", "{label} ({key})"),
    "dialog.cancel": ("Cancel", "取消"),
    "dialog.ok": ("OK", "确定"),
    "dialog.close": ("Close", "关闭"),
    "dialog.start": ("Start", "开始"),
    "dialog.nochoices": ("Nothing to choose from in this workspace.", "此工作区中没有可选项。"),
})
