"""The headless CLI: help, exit codes, dry-run, runs listing, awkward paths, README/CI drift."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import yaml

from tests.conftest import ROOT, medtui_cli


def test_help_lists_every_command():
    proc = medtui_cli("--help")
    assert proc.returncode == 0
    for cmd in ("demo", "train", "runs", "logs", "stop", "export", "pipeline"):
        assert re.search(rf"^\s+{cmd}\s", proc.stdout, re.M), cmd


def test_usage_errors_exit_2():
    proc = medtui_cli("train")
    assert proc.returncode == 2 and "CONFIG.yaml" in proc.stderr


def test_missing_workspace_and_files_are_clear_errors(tmp_path):
    proc = medtui_cli("runs", "--workspace", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "workspace folder not found" in proc.stderr
    proc = medtui_cli("train", str(tmp_path / "missing.yaml"), "--workspace", str(tmp_path))
    assert proc.returncode == 2 and "config file not found" in proc.stderr and "Traceback" not in proc.stderr
    proc = medtui_cli("logs", "nope", "--workspace", str(tmp_path))
    assert proc.returncode == 2 and "no run matches" in proc.stderr


def test_dry_run_prints_argv_and_yaml_and_imports_nothing_heavy(demo_ws, tmp_path):
    cfg = tmp_path / "sft.yaml"
    cfg.write_text(yaml.safe_dump({"stage": "sft", "finetuning_type": "lora", "template": "default",
                                   "model_name_or_path": "models/workflow-demo-tiny-qwen2",
                                   "dataset": "demo_sft_train_data", "output_dir": "saves/dry"}))
    code = ("import sys, runpy; sys.argv=['medtui','train',sys.argv[1],'--dry-run','--workspace',sys.argv[2]]\n"
            "from medtui.cli import main\nrc = main()\n"
            "heavy = [m for m in ('torch','transformers','llamafactory','trl','peft','datasets','textual') "
            "if m in sys.modules]\nprint('HEAVY', heavy)\nsys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(cfg), str(demo_ws.root)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout
    assert "llamafactory-cli train" in proc.stdout and "stage: sft" in proc.stdout
    assert f"output_dir: {demo_ws.root / 'saves/dry'}" in proc.stdout
    assert not (demo_ws.root / "saves/dry").exists()


def test_export_without_model_is_bad_input(tmp_path):
    proc = medtui_cli("export", "--out", "x", "--workspace", str(tmp_path))
    assert proc.returncode == 2 and "--model" in proc.stderr


def test_export_dry_run_from_flags(demo_ws):
    proc = medtui_cli("export", "--model", "models/workflow-demo-tiny-qwen2", "--adapter", "saves/a",
                      "--adapter", "saves/b", "--out", "saves/m", "--dry-run", "--workspace", str(demo_ws.root))
    assert "llamafactory-cli export" in proc.stdout
    assert f"adapter_name_or_path: {demo_ws.root}/saves/a,{demo_ws.root}/saves/b" in proc.stdout
    assert proc.returncode == 2 and "no LoRA adapter" in proc.stderr  # the adapters do not exist


def test_pipeline_dry_run_lists_the_demo_stages(demo_ws):
    proc = medtui_cli("pipeline", "demo", "--dry-run", "--workspace", str(demo_ws.root))
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0].startswith("pipeline demo: pt → sft → rm")
    proc = medtui_cli("pipeline", "demo", "--only", "zz", "--workspace", str(demo_ws.root))
    assert proc.returncode == 2 and "unknown stage" in proc.stderr


def test_demo_init_creates_the_workspace(demo_template):
    """The shared demo template is made by ``medtui demo init`` (tests/conftest.py): check what it made."""
    ws = demo_template.root
    info = json.loads((ws / "data/dataset_info.json").read_text())
    seed = json.loads((ROOT / "medtui/resources/seed/dataset_info.seed.json").read_text())
    for name, entry in seed.items():
        assert info[name] == entry  # registered exactly as the tutorial registers them
    assert len(json.loads((ws / "data/custom_pt_train_data.json").read_text())) == 27
    pairs = json.loads((ws / "data/custom_rlhf_train_data.json").read_text())
    assert len(pairs) == 19
    kto = json.loads((ws / "data/demo_kto_train_data.json").read_text())
    assert len(kto) == 2 * len(pairs) and {r["kto_tag"] for r in kto} == {True, False}
    meta = json.loads((ws / "models/workflow-demo-tiny-qwen2/medtui_demo.json").read_text())
    assert meta["medical"] is False and 100_000 < meta["parameters"] < 300_000
    assert "NOT a medical model" in (ws / "models/workflow-demo-tiny-qwen2/README.md").read_text()


def test_readme_quick_start_and_ci_agree():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert len(block) == 2, "the quick start is exactly two commands"
    assert "medtui --demo" in block[0] and "pip install" in block[0]
    assert "[test]" in block[1] and "pytest" in block[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert block[1] in ci.splitlines()
    assert readme.index(block[0]) < 200, "the quick start opens the README"


def test_package_data_is_self_contained():
    """The seed data ships inside the package: nothing reads ../shared."""
    for path in (ROOT / "medtui").rglob("*.py"):
        assert "shared/seed" not in path.read_text(encoding="utf-8"), path
    assert (ROOT / "medtui/resources/seed/custom_pt_train_data.json").is_file()


def test_runs_lists_the_good_records_and_names_a_broken_one(tmp_path):
    from tui_helpers import make_run

    from medtui.core.workspace import Workspace

    ws = Workspace.open(tmp_path)
    make_run(ws, "20260101-100000-sft-aaaa", steps=10, total=10)
    (ws.runs_dir / "20260101-110000-sft-dead").mkdir()
    (ws.runs_dir / "20260101-110000-sft-dead" / "run.json").write_text("[]")
    proc = medtui_cli("runs", "--workspace", str(tmp_path))
    assert proc.returncode == 0 and "20260101-100000-sft-aaaa" in proc.stdout and "Traceback" not in proc.stderr
    assert "warning: skipped" in proc.stderr and "sft-dead/run.json: unreadable run record (not a JSON object)" in proc.stderr
    rows = json.loads(medtui_cli("runs", "--json", "--workspace", str(tmp_path)).stdout)
    assert [r["id"] for r in rows] == ["20260101-100000-sft-aaaa"] and rows[0]["steps"] == 10
