"""The Datasets screen, driven with Textual's Pilot, plus snapshots at 80x24 and 120x40."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from textual.app import App
from textual.widgets import Checkbox, DataTable, Input, Select, Static, TextArea

from medtui.tui.screens.datasets.editor import RecordForm, RecordsEditor
from medtui.tui.screens.datasets.forms import ConfirmRemove, EntryForm, NewDatasetForm
from medtui.tui.screens.datasets.screen import DatasetsScreen
from tests.tui_helpers import real_app

MODEL = "models/workflow-demo-tiny-qwen2"


class Host(App):
    def __init__(self, screen_factory):
        super().__init__()
        self.screen_factory = screen_factory

    def on_mount(self) -> None:
        self.push_screen(self.screen_factory())


def host(ws, **kwargs) -> Host:
    return Host(lambda: DatasetsScreen(ws, **kwargs))


async def settle(pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def plain(widget) -> str:
    content = widget.content
    if isinstance(content, str):
        return content
    if hasattr(content, "plain"):
        return content.plain
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(content)
    return out.getvalue()


def select_row(screen: DatasetsScreen, name: str) -> None:
    table = screen.query_one("#datasets", DataTable)
    table.move_cursor(row=list(screen.rows).index(name))


def register(ws, name: str, entry: dict) -> None:
    ws.registry().add(name, entry)


async def test_list_counts_lazily_and_previews_the_first_page(demo_ws):
    app = host(demo_ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#datasets", DataTable)
        rows = {table.get_row(key)[0]: table.get_row(key) for key in table.rows}
        assert rows["custom_pt_train_data"][1] == "27" and rows["custom_pt_train_data"][2] == "pt,ppo"
        assert rows["custom_rlhf_train_data"][4] == "yes" and rows["custom_sft_train_data"][6] == "MISSING"
        assert screen.current == "custom_pt_train_data" and [i for i, _ in screen.preview.page] == [0, 1, 2, 3, 4]
        assert "患者在过去的五年中多次出现头痛症状" in plain(screen.query_one("#records-view"))
        assert "records 0–4 of 27" in plain(screen.query_one("#page-info"))
        select_row(screen, "custom_sft_train_data")
        await settle(pilot)
        assert "file not found" in plain(screen.query_one("#records-view"))


async def test_register_edit_and_remove_through_the_form(demo_ws):
    original = demo_ws.registry_path.read_bytes()
    app = host(demo_ws)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, EntryForm)
        assert "custom_pt_train_data.json" in [str(v) for _, v in form.query_one("#file", Select)._options]
        form.query_one("#file", Select).value = "custom_pt_train_data.json"
        await pilot.pause()
        assert form.query_one("#col-prompt", Select).value == "text"  # offered from the file's own keys
        assert [v for _, v in form.query_one("#col-query", Select)._options if v != Select.NULL] == ["text"]
        form.query_one("#name", Input).value = "my_pt"
        await pilot.press("ctrl+s")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DatasetsScreen)
        assert demo_ws.registry().get("my_pt") == {"file_name": "custom_pt_train_data.json",
                                                   "columns": {"prompt": "text"}}
        assert screen.current == "my_pt" and screen.totals["my_pt"] == 27

        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, EntryForm) and form.query_one("#name", Input).disabled
        form.query_one("#ranking", Checkbox).value = True  # plain text as preference pairs: the trainer cannot
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form and "KeyError: None" in str(form.query_one("#form-error", Static).render())
        assert "ranking" not in demo_ws.registry().get("my_pt")  # refused, as `medtui data add --ranking` is
        form.query_one("#ranking", Checkbox).value = False
        form.query_one("#col-system", Select).value = "text"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert demo_ws.registry().get("my_pt")["columns"] == {"prompt": "text", "system": "text"}
        table = app.screen.query_one("#datasets", DataTable)
        assert table.get_row("my_pt")[2] == "pt,ppo"

        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmRemove)
        await pilot.click("#yes")
        await settle(pilot)
        assert "my_pt" not in app.screen.rows
    assert demo_ws.registry_path.read_bytes() == original


async def test_preview_pages_jumps_and_expands_long_fields(demo_ws):
    long = "很长的回答。" * 80
    lines = [json.dumps({"instruction": f"问题 {i}", "output": f"{long}#{i}"}, ensure_ascii=False) for i in range(1200)]
    (demo_ws.data_dir / "long.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    register(demo_ws, "long", {"file_name": "long.jsonl", "columns": {"prompt": "instruction",
                                                                     "response": "output"}})
    app = host(demo_ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        select_row(screen, "long")
        await settle(pilot)
        pages = []
        for key in ("right_square_bracket", "right_square_bracket", "left_square_bracket"):
            await pilot.press(key)
            await settle(pilot)
            pages.append([i for i, _ in screen.preview.page])
        assert pages == [[5, 6, 7, 8, 9], [10, 11, 12, 13, 14], [5, 6, 7, 8, 9]]
        await pilot.press("g")
        assert screen.query_one("#jump", Input).has_focus
        await pilot.press(*"1000", "enter")
        await settle(pilot)
        assert [i for i, _ in screen.preview.page] == [1000, 1001, 1002, 1003, 1004]
        assert screen.preview.page[0][1]["output"].endswith("#1000")
        view = plain(screen.query_one("#records-view"))
        assert "chars, x expands" in view and "#1000" in view and long not in view.replace("\n", "")
        await pilot.press("x")
        await pilot.pause()
        view = plain(screen.query_one("#records-view")).replace("\n", "").replace("│", "").replace(" ", "")
        assert "x expands" not in view and long in view
        await pilot.press("g", *"99999", "enter")
        await settle(pilot)
        assert [i for i, _ in screen.preview.page] == [1195, 1196, 1197, 1198, 1199]


async def test_new_file_add_edit_duplicate_delete_and_save(demo_ws):
    app = host(demo_ws)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, NewDatasetForm)
        app.screen.query_one("#new-name", Input).value = "my_kto"
        app.screen.query_one("#new-kind", Select).value = "kto"
        await pilot.click("#create")
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, RecordsEditor)
        assert json.loads((demo_ws.data_dir / "my_kto.json").read_text()) == []
        assert "kto" in app.screen_stack[-2].rows["my_kto"].stages

        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, RecordForm)
        texts = form.query(TextArea)
        texts[0].text, texts[1].text, texts[2].text = "头痛怎么办?", "", "多休息。"
        form.query_one(Checkbox).value = True
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is editor and len(editor.document.records) == 1
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("down", "e")
        form = app.screen
        form.query(TextArea)[2].text = "喝水,多休息。"
        form.query_one(Checkbox).value = False
        await pilot.click("#ok")
        await pilot.pause()
        await pilot.press("up", "d")
        await pilot.pause()
        assert "unsaved changes" in plain(editor.query_one("#editor-title"))
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = json.loads((demo_ws.data_dir / "my_kto.json").read_text(encoding="utf-8"))
        assert saved == [{"instruction": "头痛怎么办?", "input": "", "output": "喝水,多休息。", "kto_tag": False}]
        await pilot.press("escape")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DatasetsScreen) and screen.totals["my_kto"] == 1
        assert screen.preview.page[0][1]["output"] == "喝水,多休息。"


async def test_unsaved_edits_need_a_second_escape(demo_ws):
    app = host(demo_ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        before = (demo_ws.data_dir / "custom_pt_train_data.json").read_bytes()
        await pilot.press("o")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, RecordsEditor) and len(editor.document.records) == 27
        await pilot.press("d", "escape")
        await pilot.pause()
        assert app.screen is editor  # warned, not closed
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DatasetsScreen)
    assert (demo_ws.data_dir / "custom_pt_train_data.json").read_bytes() == before


async def test_files_over_the_edit_limit_are_preview_only(demo_ws):
    app = host(demo_ws, edit_limit=2000)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        select_row(screen, "demo_kto_train_data")
        await settle(pilot)
        assert "preview only: 7.1 KB is over the 2.0 KB edit limit" in plain(screen.query_one("#page-info"))
        await pilot.press("o")
        await pilot.pause()
        assert app.screen is screen
        assert any("preview only" in n.message for n in app._notifications)


async def test_validation_messages(demo_ws):
    good = {"instruction": "问", "input": "", "output": "答", "kto_tag": True}
    records = [good, dict(good), {**good, "output": ""}, {**good, "kto_tag": "true"}]
    (demo_ws.data_dir / "bad_kto.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    register(demo_ws, "bad_kto", {"file_name": "bad_kto.json", "columns": {
        "prompt": "instruction", "query": "input", "response": "output", "kto_tag": "kto_tag"}})
    app = host(demo_ws)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        select_row(screen, "bad_kto")
        await settle(pilot)
        screen.query_one("#stage", Select).value = "kto"
        screen.query_one("#model", Select).value = str(demo_ws.root / MODEL)
        screen.query_one("#cutoff", Input).value = "3"
        await pilot.press("v")
        await settle(pilot)
        report = plain(screen.query_one("#report"))
        assert "bad_kto: 4 records, stage kto" in report
        assert "[error] Missing or empty field: 'output' (response) — 1 record(s), first: 2" in report
        assert "[error] kto_tag is not a boolean: 'kto_tag' must be true or false — 1 record(s), first: 3" in report
        assert "[warn] Duplicate record: same content as an earlier record — 1 record(s), first: 1" in report
        assert "Longer than cutoff_len" in report
        screen.query_one("#stage", Select).value = "dpo"
        await pilot.click("#run-validate")
        await settle(pilot)
        assert "dpo needs a preference dataset" in plain(screen.query_one("#report"))


async def test_stats_histogram(demo_ws):
    app = host(demo_ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        select_row(screen, "custom_rlhf_train_data")
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert "records: 19" in plain(screen.query_one("#stats-summary"))
        assert sum(screen.statistics.stats["chars"]["fields"]["record"]["counts"]) == 19
        assert [v for _, v in screen.query_one("#field", Select)._options] == [
            "prompt", "query", "chosen", "rejected", "record"]
        assert screen.statistics.plotted == ("record length (characters)", screen.statistics.stats["chars"]["fields"]["record"]["counts"])
        screen.query_one("#field", Select).value = "chosen"
        await pilot.pause()
        assert screen.statistics.plotted == ("chosen length (characters)", screen.statistics.stats["chars"]["fields"]["chosen"]["counts"])
        screen.query_one("#unit", Select).value = "tokens"
        await pilot.pause()
        assert screen.statistics.plotted == ("no model: skip token checks", [])


async def test_malformed_registry_is_read_only_and_never_written(demo_ws):
    raw = b'{\n  "a": {"file_name": "a.json"}\n  "b": {}\n}\n'
    demo_ws.registry_path.write_bytes(raw)
    app = host(demo_ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        banner = plain(screen.query_one("#banner"))
        assert "read-only" in banner and "line 3, column 3" in banner
        for key in ("a", "e", "d", "n"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is screen
        assert sum("read-only" in n.message for n in app._notifications) >= 3
    assert demo_ws.registry_path.read_bytes() == raw


async def test_malformed_data_files_show_a_message_not_a_crash(demo_ws):
    bad = {
        "invalid_json": ("bad1.json", b'[{"a": 1}, {"a": }]', "line 1, column 18: invalid JSON"),
        "jsonl_not_object": ("bad2.jsonl", b'{"a": 1}\n[2]\n', "line 2, column 1: expected a JSON object"),
        "non_utf8": ("bad3.json", b'[{"a": "\xff"}]', "not UTF-8"),
        "object": ("bad4.json", b'{"a": [\n1]}', "expected a JSON array"),
        "empty": ("bad5.json", b"", "the file is empty"),
        "missing": ("bad6.json", None, "file not found"),
        "mixed": ("bad7", "folder", "mixes file types"),
        "bom": ("good_bom.json", b'\xef\xbb\xbf[{"text": "\xe5\xa5\xbd"}]', "#0"),
    }
    for name, (file, raw, _m) in bad.items():
        if raw == "folder":
            (demo_ws.data_dir / file).mkdir()
            (demo_ws.data_dir / file / "a.json").write_text("[]")
            (demo_ws.data_dir / file / "b.jsonl").write_text("")
        elif raw is not None:
            (demo_ws.data_dir / file).write_bytes(raw)
        register(demo_ws, name, {"file_name": file})
    app = host(demo_ws)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        for name, (_file, _raw, message) in bad.items():
            select_row(screen, name)
            await settle(pilot)
            assert message in plain(screen.query_one("#records-view")), name
        table = screen.query_one("#datasets", DataTable)
        assert table.get_row("invalid_json")[1] == "error" and table.get_row("bom")[1] == "1"


async def test_chinese_labels(demo_ws):
    app = host(demo_ws, lang="zh")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert plain(screen.query_one("#banner")).startswith("数据集")
        assert "第 0–4 条,共 27 条" in plain(screen.query_one("#page-info"))
        assert [str(c.label) for c in screen.query_one("#datasets", DataTable).columns.values()][:3] == [
            "名称", "记录数", "适用阶段"]
        footer = {b.id: b.description for _, b, *_ in screen.active_bindings.values()}
        assert footer["datasets.register"] == "注册" and footer["datasets.next_page"] == "下一页"
        await pilot.press("o")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, RecordsEditor)
        assert {b.id: b.description for _, b, *_ in editor.active_bindings.values()}["datasets.editor.save"] == "保存"


def snapshot_run_before(keys: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
            await settle(pilot)
    return run_before


def test_snapshot_80x24(demo_ws, snap_compare, tmp_path):
    assert snap_compare(real_app(demo_ws, tmp_path, "datasets"), terminal_size=(80, 24),
                        run_before=snapshot_run_before())


def test_snapshot_120x40_stats(demo_ws, snap_compare, tmp_path):
    assert snap_compare(real_app(demo_ws, tmp_path, "datasets"), terminal_size=(120, 40),
                        run_before=snapshot_run_before(("down", "down", "s")))


@pytest.mark.parametrize("expanded", [False, True])
def test_chinese_text_aligns_by_cell_width(expanded):
    from rich.cells import cell_len

    from medtui.tui.screens.datasets.text import render_page

    record = {"指令": "患者在过去的五年中多次出现头痛症状。" * 30, "input": "mixed 中英文 text, 全角标点:“引号”",
              "kto_tag": True, "history": [["问", "答"]], "空": ""}
    out = io.StringIO()
    Console(file=out, width=61, color_system=None).print(render_page([(7, record)], expanded=expanded, lang="zh"))
    lines = out.getvalue().splitlines()
    table_lines = [line for line in lines[1:] if line.strip()]
    assert lines[0].startswith("#7") and len(table_lines) > 5
    assert all(cell_len(line) == 61 for line in table_lines), [cell_len(line) for line in table_lines]
    assert all(line.endswith(("│", "╮", "╯", "┤")) for line in table_lines)
    assert ("x 展开" in out.getvalue()) is not expanded
