"""Labels of the Datasets screens in English and Chinese, and how a record is drawn.

Records are drawn as Rich tables, so CJK text wraps and aligns by terminal cell width; long
values are cut to a few lines unless expanded.
"""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.cells import cell_len, set_cell_size
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from medtui.tui.i18n import register, t

TEXT = register({
    "datasets.title": ("Datasets", "数据集"),
    "datasets.read_only": ("read-only", "只读"),
    "datasets.bad": ("BAD", "有误"),
    "datasets.bad_entry": ("{name}: the registry entry is wrong: {problem}. Fix it in dataset_info.json, or remove "
                           "it (d).", "{name}:注册条目有误:{problem}。请在 dataset_info.json 中修正,或移除(d)。"),
    "datasets.name": ("Name", "名称"),
    "datasets.file": ("File", "文件"),
    "datasets.exists": ("Exists", "存在"),
    "datasets.size": ("Size", "大小"),
    "datasets.records": ("Records", "记录数"),
    "datasets.format": ("Format", "格式"),
    "datasets.ranking": ("Ranking", "偏好"),
    "datasets.stages": ("Stages", "适用阶段"),
    "datasets.preview": ("Preview", "预览"),
    "datasets.validate": ("Validate", "校验"),
    "datasets.stats": ("Stats", "统计"),
    "datasets.render": ("Render", "渲染"),
    "datasets.render_run": ("Render", "渲染"),
    "datasets.template": ("template", "模板"),
    "datasets.render_hint": ("A record as the model sees it: pick a model (its tokenizer) and a template, then Render "
                             "(Enter). [ and ] step through the records.",
                             "按模型所见渲染样本:选择模型(分词器)与模板后点击渲染(回车)。[ 与 ] 切换记录。"),
    "datasets.trained": ("trained", "参与训练"),
    "datasets.masked": ("masked", "被遮盖"),
    "datasets.cut": ("cut by cutoff_len", "被 cutoff_len 截断"),
    "datasets.newline": ("line break", "换行"),
    "datasets.render_working": ("rendering… (the first record loads llamafactory and the tokenizer)",
                                "渲染中…(首条记录需加载 llamafactory 与分词器)"),
    "datasets.render_no_dataset": ("Select a dataset with a local file first.", "请先选择一个有本地文件的数据集。"),
    "datasets.render_no_model": ("Pick a model: its tokenizer renders the record.", "请选择模型:用其分词器渲染样本。"),
    "datasets.render_bad_number": ("Record number and cutoff_len must be whole numbers.",
                                   "记录编号与 cutoff_len 必须为整数。"),
    "datasets.render_bad_template": ("llamafactory has no template {template!r}; see medtui data templates",
                                     "llamafactory 没有模板 {template!r};见 medtui data templates"),
    "datasets.render_unaligned": ("(the parts could not be matched to llamafactory's encoding; shown as one sequence)",
                                  "(无法与 llamafactory 的编码逐段对应;按整段显示)"),
    "datasets.register": ("Register", "注册"),
    "datasets.edit_entry": ("Edit entry", "编辑注册"),
    "datasets.remove": ("Remove", "移除"),
    "datasets.new_file": ("New file", "新建文件"),
    "datasets.edit_records": ("Edit records", "编辑记录"),
    "datasets.next_page": ("Next page", "下一页"),
    "datasets.prev_page": ("Prev page", "上一页"),
    "datasets.jump_to": ("Go to record #", "跳转到记录 #"),
    "datasets.refresh": ("Refresh", "刷新"),
    "datasets.back": ("Back", "返回"),
    "datasets.save": ("Save", "保存"),
    "datasets.cancel": ("Cancel", "取消"),
    "datasets.add": ("Add", "添加"),
    "datasets.edit": ("Edit", "编辑"),
    "datasets.duplicate": ("Duplicate", "复制"),
    "datasets.delete": ("Delete", "删除"),
    "datasets.stage": ("Stage", "阶段"),
    "datasets.model": ("Model (tokenizer)", "模型(分词器)"),
    "datasets.no_model": ("no model: skip token checks", "不选模型:跳过 token 检查"),
    "datasets.no_model_short": ("no model", "无模型"),
    "datasets.cutoff": ("cutoff_len", "cutoff_len"),
    "datasets.run_validate": ("Validate", "开始校验"),
    "datasets.run_stats": ("Compute", "开始统计"),
    "datasets.field": ("Field", "字段"),
    "datasets.unit": ("Unit", "单位"),
    "datasets.chars": ("characters", "字符"),
    "datasets.tokens": ("tokens", "token"),
    "datasets.counting": ("counting…", "计数中…"),
    "datasets.loading": ("loading…", "加载中…"),
    "datasets.working": ("working…", "处理中…"),
    "datasets.hub": ("hub", "远程"),
    "datasets.missing": ("MISSING", "缺失"),
    "datasets.yes": ("yes", "是"),
    "datasets.no": ("no", "否"),
    "datasets.no_dataset": ("No dataset selected.", "未选择数据集。"),
    "datasets.no_records": ("The dataset holds no records.", "数据集中没有记录。"),
    "datasets.hub_hosted": ("Hosted on a hub ({source}); nothing local to preview.", "托管在远程仓库({source}),无本地文件可预览。"),
    "datasets.page_info": ("records {first}–{last} of {total}", "第 {first}–{last} 条,共 {total} 条"),
    "datasets.preview_only": ("preview only: {size} is over the {limit} edit limit", "仅可预览:{size} 超过 {limit} 的编辑上限"),
    "datasets.editable": ("o: edit records", "o:编辑记录"),
    "datasets.registry_error": ("dataset_info.json cannot be read; shown read-only, nothing will be written:\n{error}", "dataset_info.json 无法解析;只读显示,不会写入任何内容:\n{error}"),
    "datasets.refused": ("dataset_info.json is read-only (it does not parse); fix it first", "dataset_info.json 无法解析,处于只读状态;请先修复"),
    "datasets.dataset_name": ("Dataset name", "数据集名称"),
    "datasets.columns": ("Columns", "列映射"),
    "datasets.tags": ("Tags (sharegpt / openai)", "标签 (sharegpt / openai)"),
    "datasets.formatting": ("Formatting", "格式"),
    "datasets.kind": ("Kind", "类型"),
    "datasets.file_name": ("File name (in data/)", "文件名(在 data/ 中)"),
    "datasets.register_title": ("Register a dataset", "注册数据集"),
    "datasets.edit_title": ("Edit dataset entry", "编辑数据集注册"),
    "datasets.new_title": ("New dataset file from a schema", "按模板新建数据集文件"),
    "datasets.confirm_remove": ("Remove {name} from dataset_info.json? The data file is kept.", "从 dataset_info.json 中移除 {name}?数据文件会保留。"),
    "datasets.record_title": ("Record {index}", "记录 {index}"),
    "datasets.new_record": ("New record", "新记录"),
    "datasets.unsaved": ("unsaved changes", "有未保存的修改"),
    "datasets.saved": ("saved {file}", "已保存 {file}"),
    "datasets.discard": ("Unsaved changes: ctrl+s saves, escape again discards", "有未保存修改:ctrl+s 保存,再按 escape 放弃"),
    "datasets.editing": ("Editing {file}: {n} records", "正在编辑 {file}:{n} 条记录"),
    "datasets.registered": ("registered {name}", "已注册 {name}"),
    "datasets.updated": ("updated {name}", "已更新 {name}"),
    "datasets.removed": ("removed {name}", "已移除 {name}"),
    "datasets.created": ("created {file} and registered {name}", "已创建 {file} 并注册 {name}"),
    "datasets.confirm": ("Remove", "移除"),
    "datasets.histogram": ("{field} length ({unit})", "{field} 长度({unit})"),
    "datasets.more": (" … (+{cut} chars, x expands)", " … (+{cut} 字符, x 展开)"),
    "datasets.no_record": ("no record {n} (the dataset has {total})", "没有第 {n} 条记录(共 {total} 条)"),
    "datasets.need": ("{field}: ?", "{field}:?"),
    "datasets.ranking_box": ("Ranking (ranking)", "偏好 (ranking)"),
    "datasets.already": ("{name}: already registered", "{name}:已注册"),
    # footer labels, keyed by binding id
    "datasets.jump": ("Go to", "跳转到记录"),
    "datasets.expand": ("Expand", "展开字段"),
    "datasets.editor.add": ("Add", "添加"),
    "datasets.editor.edit": ("Edit", "编辑"),
    "datasets.editor.duplicate": ("Duplicate", "复制"),
    "datasets.editor.delete": ("Delete", "删除"),
    "datasets.editor.save": ("Save", "保存"),
    "datasets.editor.close": ("Back", "返回"),
    "datasets.form.cancel": ("Cancel", "取消"),
    "datasets.form.save": ("Save", "保存"),
    "datasets.new.cancel": ("Cancel", "取消"),
    "datasets.new.create": ("Create", "创建"),
    "datasets.remove.cancel": ("Cancel", "取消"),
    "datasets.record.cancel": ("Cancel", "取消"),
    "datasets.record.save": ("Save", "保存"),
})

LONG_CELLS = 240
LONG_LINES = 4


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
                more = t("datasets.more", lang, cut=cut)
                table.add_row(key, Text(shown) + Text(more, style="dim italic"))
                continue
        style = "" if isinstance(value, str) else "magenta"
        table.add_row(key, Text(text, style=style))
    return table


def render_page(page: list[tuple[int, dict[str, Any]]], *, expanded: bool, lang: str) -> RenderableType:
    return Group(*(render_record(i, r, expanded=expanded, lang=lang) for i, r in page))
