"""Labels of the Datasets screens in English and Chinese, and how a record is drawn.

Records are drawn as Rich tables, so CJK text wraps and aligns by terminal cell width; long
values are cut to a few lines unless expanded.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from rich import box
from rich.cells import cell_len, set_cell_size
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

TEXT: dict[str, tuple[str, str]] = {
    "title": ("Datasets", "数据集"),
    "read_only": ("read-only", "只读"),
    "bad": ("BAD", "有误"),
    "bad_entry": ("{name}: the registry entry is wrong: {problem}. Fix it in dataset_info.json, or remove it (d).",
                  "{name}:注册条目有误:{problem}。请在 dataset_info.json 中修正,或移除(d)。"),
    "name": ("Name", "名称"),
    "file": ("File", "文件"),
    "exists": ("Exists", "存在"),
    "size": ("Size", "大小"),
    "records": ("Records", "记录数"),
    "format": ("Format", "格式"),
    "ranking": ("Ranking", "偏好"),
    "stages": ("Stages", "适用阶段"),
    "preview": ("Preview", "预览"),
    "validate": ("Validate", "校验"),
    "stats": ("Stats", "统计"),
    "render": ("Render", "渲染"),
    "render_run": ("Render", "渲染"),
    "template": ("template", "模板"),
    "render_hint": ("A record as the model sees it: pick a model (its tokenizer) and a template, then Render "
                    "(Enter). [ and ] step through the records.",
                    "按模型所见渲染样本:选择模型(分词器)与模板后点击渲染(回车)。[ 与 ] 切换记录。"),
    "trained": ("trained", "参与训练"),
    "masked": ("masked", "被遮盖"),
    "cut": ("cut by cutoff_len", "被 cutoff_len 截断"),
    "newline": ("line break", "换行"),
    "render_working": ("rendering… (the first record loads llamafactory and the tokenizer)",
                       "渲染中…(首条记录需加载 llamafactory 与分词器)"),
    "render_no_dataset": ("Select a dataset with a local file first.", "请先选择一个有本地文件的数据集。"),
    "render_no_model": ("Pick a model: its tokenizer renders the record.", "请选择模型:用其分词器渲染样本。"),
    "render_bad_number": ("Record number and cutoff_len must be whole numbers.", "记录编号与 cutoff_len 必须为整数。"),
    "render_bad_template": ("llamafactory has no template {template!r}; see medtui data templates",
                            "llamafactory 没有模板 {template!r};见 medtui data templates"),
    "render_unaligned": ("(the parts could not be matched to llamafactory's encoding; shown as one sequence)",
                         "(无法与 llamafactory 的编码逐段对应;按整段显示)"),
    "register": ("Register", "注册"),
    "edit_entry": ("Edit entry", "编辑注册"),
    "remove": ("Remove", "移除"),
    "new_file": ("New file", "新建文件"),
    "edit_records": ("Edit records", "编辑记录"),
    "next_page": ("Next page", "下一页"),
    "prev_page": ("Prev page", "上一页"),
    "jump": ("Go to record", "跳转到记录"),
    "expand": ("Expand fields", "展开字段"),
    "refresh": ("Refresh", "刷新"),
    "back": ("Back", "返回"),
    "save": ("Save", "保存"),
    "cancel": ("Cancel", "取消"),
    "add": ("Add", "添加"),
    "edit": ("Edit", "编辑"),
    "duplicate": ("Duplicate", "复制"),
    "delete": ("Delete", "删除"),
    "stage": ("Stage", "阶段"),
    "model": ("Model (tokenizer)", "模型(分词器)"),
    "no_model": ("no model: skip token checks", "不选模型:跳过 token 检查"),
    "no_model_short": ("no model", "无模型"),
    "cutoff": ("cutoff_len", "cutoff_len"),
    "run_validate": ("Validate", "开始校验"),
    "run_stats": ("Compute", "开始统计"),
    "field": ("Field", "字段"),
    "unit": ("Unit", "单位"),
    "chars": ("characters", "字符"),
    "tokens": ("tokens", "token"),
    "counting": ("counting…", "计数中…"),
    "loading": ("loading…", "加载中…"),
    "working": ("working…", "处理中…"),
    "hub": ("hub", "远程"),
    "missing": ("MISSING", "缺失"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "no_dataset": ("No dataset selected.", "未选择数据集。"),
    "no_records": ("The dataset holds no records.", "数据集中没有记录。"),
    "hub_hosted": ("Hosted on a hub ({source}); nothing local to preview.",
                   "托管在远程仓库({source}),无本地文件可预览。"),
    "page_info": ("records {first}–{last} of {total}", "第 {first}–{last} 条,共 {total} 条"),
    "preview_only": ("preview only: {size} is over the {limit} edit limit",
                     "仅可预览:{size} 超过 {limit} 的编辑上限"),
    "editable": ("o: edit records", "o:编辑记录"),
    "registry_error": ("dataset_info.json cannot be read; shown read-only, nothing will be written:\n{error}",
                       "dataset_info.json 无法解析;只读显示,不会写入任何内容:\n{error}"),
    "refused": ("dataset_info.json is read-only (it does not parse); fix it first",
                "dataset_info.json 无法解析,处于只读状态;请先修复"),
    "dataset_name": ("Dataset name", "数据集名称"),
    "columns": ("Columns", "列映射"),
    "tags": ("Tags (sharegpt / openai)", "标签 (sharegpt / openai)"),
    "formatting": ("Formatting", "格式"),
    "kind": ("Kind", "类型"),
    "file_name": ("File name (in data/)", "文件名(在 data/ 中)"),
    "register_title": ("Register a dataset", "注册数据集"),
    "edit_title": ("Edit dataset entry", "编辑数据集注册"),
    "new_title": ("New dataset file from a schema", "按模板新建数据集文件"),
    "confirm_remove": ("Remove {name} from dataset_info.json? The data file is kept.",
                       "从 dataset_info.json 中移除 {name}?数据文件会保留。"),
    "record_title": ("Record {index}", "记录 {index}"),
    "new_record": ("New record", "新记录"),
    "unsaved": ("unsaved changes", "有未保存的修改"),
    "saved": ("saved {file}", "已保存 {file}"),
    "discard": ("Unsaved changes: ctrl+s saves, escape again discards", "有未保存修改:ctrl+s 保存,再按 escape 放弃"),
    "editing": ("Editing {file}: {n} records", "正在编辑 {file}:{n} 条记录"),
    "registered": ("registered {name}", "已注册 {name}"),
    "updated": ("updated {name}", "已更新 {name}"),
    "removed": ("removed {name}", "已移除 {name}"),
    "created": ("created {file} and registered {name}", "已创建 {file} 并注册 {name}"),
    "confirm": ("Remove", "移除"),
    "histogram": ("{field} length ({unit})", "{field} 长度({unit})"),
}

#: Binding id -> TEXT key of its footer label.
BINDING_TEXT = {
    "datasets.register": "register", "datasets.edit_entry": "edit_entry", "datasets.remove": "remove",
    "datasets.new_file": "new_file", "datasets.edit_records": "edit_records", "datasets.next_page": "next_page",
    "datasets.prev_page": "prev_page", "datasets.jump": "jump", "datasets.expand": "expand",
    "datasets.validate": "validate", "datasets.stats": "stats", "datasets.refresh": "refresh",
    "datasets.editor.add": "add", "datasets.editor.edit": "edit", "datasets.editor.duplicate": "duplicate",
    "datasets.editor.delete": "delete", "datasets.editor.save": "save", "datasets.editor.close": "back",
    "datasets.form.cancel": "cancel", "datasets.form.save": "save", "datasets.new.cancel": "cancel",
    "datasets.new.create": "save", "datasets.remove.cancel": "cancel", "datasets.record.cancel": "cancel",
    "datasets.record.save": "save",
}

LONG_CELLS = 240
LONG_LINES = 4


def tr(key: str, lang: str = "en", **kwargs: Any) -> str:
    en, zh = TEXT[key]
    return (zh if lang == "zh" else en).format(**kwargs)


def localize_bindings(node: Any, lang: str) -> None:
    """Give a screen's footer labels in ``lang`` (the bindings' keys and ids stay as they are)."""
    if lang != "zh":
        return
    table = node._bindings.key_to_bindings
    for key, bindings in table.items():
        table[key] = [replace(b, description=tr(BINDING_TEXT[b.id], lang)) if b.id in BINDING_TEXT else b
                      for b in bindings]


def value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def clip(text: str, cells: int = LONG_CELLS, lines: int = LONG_LINES) -> tuple[str, int]:
    """``text`` cut to ``lines`` lines and ``cells`` terminal cells; and how many characters were cut."""
    parts = text.split("\n")
    kept = "\n".join(parts[:lines])
    if cell_len(kept) > cells:
        kept = set_cell_size(kept, cells).rstrip()
    return kept, len(text) - len(kept)


def render_record(index: int, record: dict[str, Any], *, expanded: bool = False, lang: str = "en") -> Table:
    table = Table(box=box.ROUNDED, show_header=False, expand=True, padding=(0, 1), title=f"#{index}",
                  title_justify="left", title_style="bold", border_style="grey50")
    table.add_column("key", style="bold cyan", no_wrap=True, max_width=18)
    table.add_column("value", ratio=1, overflow="fold")
    for key, value in record.items():
        text = value_text(value)
        if not expanded:
            shown, cut = clip(text)
            if cut > 0:
                more = f" … (+{cut} 字符, x 展开)" if lang == "zh" else f" … (+{cut} chars, x expands)"
                table.add_row(key, Text(shown) + Text(more, style="dim italic"))
                continue
        style = "" if isinstance(value, str) else "magenta"
        table.add_row(key, Text(text, style=style))
    return table


def render_page(page: list[tuple[int, dict[str, Any]]], *, expanded: bool, lang: str) -> RenderableType:
    return Group(*(render_record(i, r, expanded=expanded, lang=lang) for i, r in page))
