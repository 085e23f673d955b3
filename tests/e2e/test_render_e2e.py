"""``medtui data render`` against llamafactory's own preprocessing of the same records.

The truth comes from llamafactory's full dataset pipeline (``get_dataset``: loader, converter,
processor, ``datasets.map``) run in a subprocess; the render comes from medtui's worker. Token
ids and the trained/masked flag of every token must match, with the template's masking rules
(train_on_prompt, mask_history), the cutoff, and chosen/rejected pairs.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, medtui_cli

from medtui.core.data.render import RenderSession, format_text, render_request

MODEL = "models/workflow-demo-tiny-qwen2"

TRUTH = r"""
import json, sys, tempfile
from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
from llamafactory.hparams import get_train_args
from llamafactory.model import load_tokenizer

out = []
for case in json.loads(sys.argv[1]):
    args = dict(stage=case["stage"], do_train=True, model_name_or_path=case["model"], dataset=case["dataset"],
                dataset_dir=case["dataset_dir"], template=case["template"], cutoff_len=case["cutoff_len"],
                train_on_prompt=case.get("train_on_prompt", False), mask_history=case.get("mask_history", False),
                output_dir=tempfile.mkdtemp(), overwrite_cache=True, preprocessing_num_workers=1,
                finetuning_type="lora", report_to="none", packing=False)
    model_args, data_args, training_args, finetuning_args, _ = get_train_args(args)
    tokenizer_module = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    stage = "rm" if case["stage"] in ("rm", "dpo") else case["stage"]
    dataset = get_dataset(template, model_args, data_args, training_args, stage, **tokenizer_module)["train_dataset"]
    row = dataset[case["index"]]
    keys = ["chosen_input_ids", "chosen_labels", "rejected_input_ids", "rejected_labels"] if stage == "rm" \
        else ["input_ids", "labels"]
    out.append({k: row[k] for k in keys})
print(json.dumps(out))
"""

MULTITURN = [
    {"conversations": [{"from": "human", "value": "头痛怎么办?"}, {"from": "gpt", "value": "多休息,多喝水。"},
                       {"from": "human", "value": "发烧呢?"}, {"from": "gpt", "value": "请及时就医。"}],
     "system": "你是一名医生。"},
]


@pytest.fixture(scope="module")
def ws(demo_template, tmp_path_factory):
    from conftest import copy_ws

    ws = copy_ws(demo_template, tmp_path_factory.mktemp("render") / "ws")
    (ws.data_dir / "multiturn.json").write_text(json.dumps(MULTITURN, ensure_ascii=False))
    info = json.loads(ws.registry_path.read_text())
    info["multiturn"] = {"file_name": "multiturn.json", "formatting": "sharegpt",
                         "columns": {"messages": "conversations", "system": "system"}}
    ws.registry_path.write_text(json.dumps(info, ensure_ascii=False, indent=2))
    return ws


CASES = [
    dict(dataset="demo_sft_train_data", stage="sft", template="default", index=3, cutoff_len=2048),
    dict(dataset="demo_sft_train_data", stage="sft", template="qwen", index=5, cutoff_len=20, train_on_prompt=True),
    dict(dataset="multiturn", stage="sft", template="qwen", index=0, cutoff_len=2048, mask_history=True),
    dict(dataset="multiturn", stage="sft", template="qwen", index=0, cutoff_len=40),
    dict(dataset="custom_rlhf_train_data", stage="rm", template="qwen", index=2, cutoff_len=30),
]


@pytest.fixture(scope="module")
def session():
    """One render worker for the module, as the Datasets screen keeps one."""
    s = RenderSession()
    yield s
    s.close()


@pytest.fixture(scope="module")
def truth(ws):
    cases = [dict(c, model=str(ws.root / MODEL), dataset_dir=str(ws.data_dir)) for c in CASES]
    proc = subprocess.run([sys.executable, "-c", TRUTH, json.dumps(cases)], capture_output=True, text=True,
                          timeout=600, cwd=ws.root, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("number", range(len(CASES)))
def test_render_matches_llamafactorys_preprocessing(ws, truth, session, number):
    case = CASES[number]
    rendered = session.render(render_request(dataset_dir=ws.data_dir, model=str(ws.root / MODEL), **case))
    expected = truth[number]
    names = ["chosen", "rejected"] if case["stage"] == "rm" else [None]
    assert len(rendered.sequences) == len(names)
    for i, name in enumerate(names):
        seq = rendered.sequences[i]
        ids = expected[f"{name}_input_ids" if name else "input_ids"]
        labels = expected[f"{name}_labels" if name else "labels"]
        assert seq["aligned"], seq["parts"]
        assert [t for r in seq["runs"] if not r["cut"] for t in r["ids"]] == ids
        shown_trained = [r["trained"] for r in seq["runs"] if not r["cut"] for _ in r["ids"]]
        assert shown_trained == [label != -100 for label in labels]
        assert sum(p["kept"] for p in seq["parts"]) == len(ids) <= case["cutoff_len"]
        assert sum(p["trained"] for p in seq["parts"]) == sum(label != -100 for label in labels)
    parts = rendered.sequences[0]["parts"]
    if case.get("mask_history"):
        assert [p["trained"] > 0 for p in parts] == [False, False, False, True]  # only the last reply
    if case.get("train_on_prompt"):
        assert parts[0]["trained"] == parts[0]["kept"] > 0
    if case["cutoff_len"] < 50:
        assert any(p["kept"] < p["tokens"] for s in rendered.sequences for p in s["parts"])


def test_render_cli_marks_masked_trained_and_cut(ws):
    proc = medtui_cli("data", "render", "custom_rlhf_train_data", "--template", "qwen", "--index", "2",
                      "--cutoff-len", "30", "--workspace", str(ws.root), env={"COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("custom_rlhf_train_data #2 · template qwen · stage rm · cutoff 30")
    assert any("CHOSEN" in line and "│ REJECTED" in line for line in lines)
    assert "⟦<|im_start|>system↵" in proc.stdout  # masked prompt, special tokens visible
    assert "✂[" in proc.stdout and "turn 1 · response" in proc.stdout
    assert "warning: this tokenizer has no chat template of its own" in proc.stdout


def test_color_output_and_default_template(ws, session):
    rendered = session.render(render_request(dataset="demo_sft_train_data", dataset_dir=ws.data_dir,
                                            model=str(ws.root / MODEL), index=0))
    colored = format_text(rendered, color=True)
    assert "\x1b[2mHuman:" in colored and "\x1b[1;32m" in colored  # masked dim, trained bold green
    assert rendered.warnings == []  # default is the plain template for a base model


async def test_render_tab_in_the_app(ws, tmp_path):
    """The Datasets screen's Render tab renders for real: pairwise side by side, styles by label, ] steps."""
    from textual.widgets import Input, Static

    from medtui.tui.app import MedtuiApp
    from medtui.tui.screens.datasets.render import CUT, MASKED, TRAINED, RenderPane
    from medtui.tui.screens.datasets.screen import DatasetsScreen
    from tests.tui_helpers import wait_until

    app = MedtuiApp(ws, lang="en", settings_path=tmp_path / "config.json")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, DatasetsScreen) and app.screen.current, what="Datasets")
        screen = app.screen
        pane = screen.query_one(RenderPane)
        screen.query_one("#datasets").move_cursor(row=list(screen.rows).index("custom_rlhf_train_data"))
        await wait_until(pilot, lambda: screen.current == "custom_rlhf_train_data", what="the pairwise set")
        pane.query_one("#render-template", Input).value = "qwen"
        pane.query_one("#render-cutoff", Input).value = "30"
        await pilot.press("t")
        await wait_until(pilot, lambda: pane.rendered is not None, timeout=300, what="the first render")
        assert pane.has_class("-pairwise") and pane.rendered.data["index"] == 0
        left = pane.query_one("#render-seq-0", Static).content  # the rich Text the pane shows
        right = pane.query_one("#render-seq-1", Static).content
        assert left.plain.startswith("CHOSEN") and right.plain.startswith("REJECTED")
        styles = {str(span.style) for span in left.spans}
        assert {TRAINED, MASKED, CUT} <= styles
        trained = "".join(left.plain[s.start:s.end] for s in left.spans if str(s.style) == TRAINED)
        assert "<|im_end|>" in trained and "<|im_start|>" not in trained  # the reply is trained, the prompt not
        assert "<|im_start|>" in left.plain and "turn 1 · response" in left.plain
        assert "this tokenizer has no chat template of its own" in str(pane.query_one("#render-head", Static).render())
        await pilot.press("right_square_bracket")  # the next record, on the same worker
        await wait_until(pilot, lambda: pane.rendered.data["index"] == 1, timeout=60, what="record #1")
