"""The plain-Python parts behind the TUI: dataset compatibility, settings, spec docs, form model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from medtui.core.data.fit import compatible, dataset_problem
from medtui.core.settings import Settings, config_path, load_settings, save_settings
from medtui.core.stages import preflight
from medtui.core.stages.builder import build_plan
from medtui.core.stages.spec import ARGS
from medtui.core.stages.specdoc import render
from medtui.tui.screens.train.formmodel import FormState, form_fields, switch
from tests.conftest import ROOT


def test_dataset_compatibility_rule(demo_ws):
    items = demo_ws.registry().items()
    assert compatible("dpo", items) == ["custom_rlhf_train_data"]
    assert compatible("rm", items) == ["custom_rlhf_train_data"]
    assert compatible("kto", items) == ["demo_kto_train_data"]
    assert "custom_rlhf_train_data" not in compatible("sft", items)
    assert "demo_sft_train_data" in compatible("sft", items)
    assert "custom_pt_train_data" not in compatible("sft", items)  # no response column
    assert compatible("export", items) == []
    assert "kto_tag" in dataset_problem("kto", "x", {"file_name": "x.json"})
    assert dataset_problem("kto", "x", {"columns": "not a mapping"})  # malformed entry: refused, no crash


def test_preflight_uses_the_same_rule(demo_ws):
    config = {"stage": "dpo", "model_name_or_path": "models/workflow-demo-tiny-qwen2", "dataset": "demo_sft_train_data",
              "output_dir": "saves/x"}
    plan = build_plan(config, demo_ws)
    expected = dataset_problem("dpo", "demo_sft_train_data", demo_ws.registry().get("demo_sft_train_data"))
    assert expected in [p.message for p in preflight.check(plan, demo_ws, preflight.Environment(
        disk_free=lambda p: 10**12, bf16_support=lambda: (True, ""), count_tokens=lambda *a: 10**6))]


def test_settings_follow_xdg_and_keep_unknown_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "medtui" / "config.json"
    assert load_settings() == Settings()
    config_path().parent.mkdir(parents=True)
    config_path().write_text(json.dumps({"lang": "zh", "theme": "nord", "keymap": {"x": 1}}))
    settings = load_settings()
    assert (settings.lang, settings.theme, settings.extra) == ("zh", "nord", {"keymap": {"x": 1}})
    settings.last_workspace = "/data/ws"
    save_settings(settings)
    assert json.loads(config_path().read_text()) == {"keymap": {"x": 1}, "lang": "zh", "theme": "nord",
                                                     "last_workspace": "/data/ws"}
    assert [p.name for p in config_path().parent.iterdir()] == ["config.json"]  # no temp files left


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "\xff\xfe"])
def test_broken_settings_fall_back_to_defaults(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_bytes(text.encode("latin-1"))
    settings = load_settings(path)
    assert settings.lang == "en" and settings.error and str(path) in settings.error
    assert load_settings(tmp_path / "missing.json").error is None


def test_lang_from_settings_must_be_known(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"lang": "fr"}))
    assert load_settings(path).lang == "en"


def test_stage_arguments_doc_matches_the_generator():
    committed = (ROOT / "docs" / "stage-arguments.md").read_text(encoding="utf-8")
    assert committed == render(), "regenerate: python -m medtui.core.stages.specdoc --write docs/stage-arguments.md"
    for arg in ARGS:
        assert f"`{arg.name}`" in committed and arg.help_zh.replace("|", "\\|") in committed


def test_specdoc_module_prints_the_table():
    proc = subprocess.run([sys.executable, "-m", "medtui.core.stages.specdoc"], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 0 and proc.stdout == render()


def test_form_state_splits_fields_and_extras():
    config = {"stage": "sft", "finetuning_type": "lora", "lora_rank": 8, "pref_beta": 0.2, "do_train": True,
              "bf16": "yes", "report_to": "none", "quantization_bit": 4, "dataset": ["a", "b"]}
    state, problems = FormState.from_config(config)
    assert problems == []
    assert state.values["lora_rank"] == "8" and state.values["quantization_bit"] == 4
    assert state.values["dataset"] == "a,b"
    # pref_beta does not apply to sft, do_train is unknown, "yes" is not a select option: all pass through
    assert state.extras == {"pref_beta": 0.2, "do_train": True, "bf16": "yes"}
    assert state.config()["pref_beta"] == 0.2
    moved = switch(state, "dpo", "lora")
    assert moved.values["pref_beta"] == "0.2" and "pref_beta" not in moved.extras
    assert "lora_rank" not in form_fields("sft", "full")


def test_form_state_reports_an_unknown_stage_or_method():
    state, problems = FormState.from_config({"stage": "grpo", "finetuning_type": "qlora"})
    assert {p.field for p in problems} == {"stage", "finetuning_type"}
    assert (state.stage, state.method) == ("sft", "lora")


def test_format_age():
    from medtui.core.runs.progress import format_age

    assert [format_age(s) for s in (None, -5, 42, 61, 7200, 200000)] == ["?", "0s", "42s", "1m", "2h", "2d"]


def test_bare_medtui_reopens_the_last_workspace_only_when_here_is_none(demo_ws, tmp_path, monkeypatch):
    import argparse

    from medtui.cli.tui_cmd import choose_workspace

    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert choose_workspace(argparse.Namespace(), str(demo_ws.root)).root == demo_ws.root
    assert choose_workspace(argparse.Namespace(), str(tmp_path / "gone")).root == elsewhere
    assert choose_workspace(argparse.Namespace(workspace=str(elsewhere)), str(demo_ws.root)).root == elsewhere
    monkeypatch.chdir(demo_ws.root)
    assert choose_workspace(argparse.Namespace(), str(elsewhere)).root == demo_ws.root


def test_overview_follows_new_and_rewritten_run_records(demo_ws):
    import time

    from medtui.core.lifecycle.overview import Overview

    overview = Overview(demo_ws, clock=lambda: 10_000.0)
    assert all(s.run_id is None for s in overview.poll().values())
    run_dir = demo_ws.runs_dir / "r1"
    run_dir.mkdir(parents=True)
    assert overview.poll()["sft"].run_id is None  # a folder without its record yet
    out = demo_ws.saves_dir / "x"
    out.mkdir()
    (out / "trainer_log.jsonl").write_text('{"current_steps": 1, "loss": 2.5}\n{"current_steps": 2, "loss": 1.25}\n')
    record = {"id": "r1", "stage": "sft", "status": "succeeded", "output_dir": str(out), "started": 9_000.0,
              "ended": 9_400.0}
    (run_dir / "run.json").write_text(json.dumps(record))
    s = overview.poll()["sft"]
    assert (s.run_id, s.status, s.output_dir, s.loss, s.age) == ("r1", "succeeded", "saves/x", 1.25, 600.0)
    time.sleep(0.05)
    (run_dir / "run.json").write_text(json.dumps({**record, "status": "failed", "error": "ValueError: boom"}))
    s = overview.poll()["sft"]
    assert (s.status, s.reason) == ("failed", "ValueError: boom")
