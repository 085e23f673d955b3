"""``medtui eval``, ``medtui data render|templates`` and ``medtui train --save``: input handling through the CLI."""

from __future__ import annotations

import io
import socket
import zipfile

import pytest
import yaml

from tests.conftest import medtui_cli
from tests.fakehub import FakeHub

MODEL = "models/workflow-demo-tiny-qwen2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sdk_env(tmp_path, endpoint: str) -> dict[str, str]:
    return {"MODELSCOPE_CACHE": str(tmp_path / "ms-cache"), "MODELSCOPE_HOME": str(tmp_path / "ms-home"),
            "MODELSCOPE_DOWNLOAD_INTRA_CLOUD": "false", "MODELSCOPE_ENDPOINT": endpoint,
            "MODELSCOPE_REPO_TREE_PAGE_MAX_ATTEMPTS": "1"}


def test_medical_subjects_are_listed_before_any_download(demo_ws):
    proc = medtui_cli("eval", "--task", "ceval", "--list", "--workspace", str(demo_ws.root))
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[0] for line in proc.stdout.splitlines()]
    assert {"clinical_medicine", "basic_medicine", "physician"} <= set(listed)
    assert "--download-only" in proc.stderr


def test_offline_benchmark_download_is_a_clear_error(demo_ws, tmp_path):
    env = _sdk_env(tmp_path, f"http://127.0.0.1:{_free_port()}")
    proc = medtui_cli("eval", MODEL, "--task", "cmmlu", "--workspace", str(demo_ws.root), env=env)
    assert proc.returncode == 1
    assert "cannot download the CMMLU benchmark (modelscope/cmmlu) from ModelScope" in proc.stderr
    assert "Offline? Copy a prepared benchmark to" in proc.stderr and "Traceback" not in proc.stderr
    assert not (demo_ws.root / "evaluation" / "cmmlu").exists()


def test_benchmark_downloads_and_prepares_from_the_hub(demo_ws, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for split in ("test", "dev"):
            for subject in ("anatomy", "virology"):
                zf.writestr(f"{split}/{subject}.csv", ",Question,A,B,C,D,Answer\n0,问,甲,乙,丙,丁,A\n")
    hub = FakeHub()
    hub.add("datasets", "modelscope/cmmlu", {"cmmlu_v1_0_1.zip": buf.getvalue(), "README.md": b"# CMMLU\n"})
    url = hub.start()
    try:
        proc = medtui_cli("eval", "--task", "cmmlu", "--download-only", "--workspace", str(demo_ws.root),
                          env=_sdk_env(tmp_path, url))
    finally:
        hub.stop()
    assert proc.returncode == 0, proc.stderr
    assert "prepared 2 subjects" in proc.stdout
    listed = medtui_cli("eval", "--task", "cmmlu", "--list", "--workspace", str(demo_ws.root))
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["anatomy", "virology"]


@pytest.mark.parametrize("args, message", [
    (["eval", MODEL, "--task", "cmmlu", "--dataset", "x"], "not both"),
    (["eval", "--dataset", "demo_sft_train_data"], "eval needs MODEL"),
    (["eval", MODEL, "--task", "mmlu", "--task-dir", "nowhere"], "no prepared benchmark in"),
    (["eval", MODEL, "--dataset", "demo_sft_train_data", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["eval", "--list"], "--list needs --task"),
    (["data", "render", "nope"], "dataset 'nope' is not registered"),
    (["data", "render", "demo_sft_train_data", "--template", "baichuan2"], "llamafactory has no template 'baichuan2'"),
    (["data", "render", "demo_sft_train_data", "--index", "-1"], "--index must be 0 or more"),
    (["data", "render", "demo_sft_train_data", "--train-on-prompt", "--mask-history"], "cannot both be on"),
    (["data", "render", "custom_sft_train_data"], "data file"),
    (["export", "--model", MODEL, "--out", "saves/q", "--quantization-bit", "4"], "needs --quantization-dataset"),
])
def test_bad_input_exits_2_with_one_line(demo_ws, args, message):
    proc = medtui_cli(*args, "--workspace", str(demo_ws.root))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_bad_subject_is_named(demo_ws):
    folder = demo_ws.root / "evaluation" / "cmmlu"
    from medtui.core import benchmark

    benchmark.write_task(folder, {"anatomy": {"name": "解剖学", "category": "STEM"}},
                         {"anatomy": {"test": [{"question": "q", "A": "a", "B": "b", "C": "c", "D": "d",
                                                "answer": "A"}]}})
    proc = medtui_cli("eval", MODEL, "--task", "cmmlu", "--subjects", "anatomyy", "--workspace", str(demo_ws.root))
    assert proc.returncode == 2 and "did you mean anatomy" in proc.stderr


def test_templates_come_from_the_installed_llamafactory(demo_ws):
    proc = medtui_cli("data", "templates", "--workspace", str(demo_ws.root))
    names = proc.stdout.split()
    assert proc.returncode == 0 and {"default", "qwen", "qwen3", "llama3"} <= set(names)
    assert "baichuan2" not in names


def test_train_save_writes_a_standalone_yaml(demo_ws, tmp_path):
    src = tmp_path / "in.yaml"
    src.write_text(yaml.safe_dump({"stage": "sft", "finetuning_type": "full", "model_name_or_path": MODEL,
                                   "dataset": "demo_sft_train_data", "output_dir": "saves/x/full/sft",
                                   "lora_rank": 4, "devices": "0"}))
    proc = medtui_cli("train", str(src), "--save", "configs/sft.yaml", "--workspace", str(demo_ws.root))
    assert proc.returncode == 0, proc.stderr
    assert "lora_rank left out" in proc.stderr
    saved = yaml.safe_load((demo_ws.root / "configs/sft.yaml").read_text())
    assert saved["do_train"] is True and saved["dataset_dir"] == "data" and "lora_rank" not in saved
    assert "devices" not in saved
    bad = medtui_cli("train", str(src), "--save", "c.yaml", "--set", "learning_rate=fast",
                     "--workspace", str(demo_ws.root))
    assert bad.returncode == 2 and "learning_rate: must be a number" in bad.stderr
    assert not (demo_ws.root / "c.yaml").exists()
