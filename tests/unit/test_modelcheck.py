"""Model folder checks: files, safetensors parameter count, template suggestion, real loading."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from medtui.core.errors import MedtuiError
from medtui.core.hub import modelcheck
from tests.conftest import medtui_cli


def _safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> None:
    sizes = {"BF16": 2, "F16": 2, "F32": 4}
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for dim in shape:
            n *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def _model(folder: Path, model_type: str = "qwen2", **config) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"], "model_type": model_type,
                                                    "max_position_embeddings": 32768, "torch_dtype": "bfloat16",
                                                    "vocab_size": 151936, **config}))
    (folder / "tokenizer.json").write_text("{}")
    _safetensors(folder / "model.safetensors", {"embed": ("BF16", [100, 8]), "norm": ("F32", [8])})
    return folder


def test_files_params_and_template_without_loading(tmp_path):
    report = modelcheck.inspect(_model(tmp_path / "Qwen2-0.5B"), load=False)
    assert report.status == "ok", report.problems
    assert report.params == 808 and report.weight_dtypes == {"bfloat16": 800, "float32": 8}
    assert (report.architecture, report.dtype, report.context_length) == ("Qwen2ForCausalLM", "bfloat16", 32768)
    assert report.template == "qwen" and "base model also trains with default" in report.template_reason
    assert dict(report.rows())["parameters"] == "808"


@pytest.mark.parametrize("model_type, name, template", [
    ("qwen2", "Qwen2.5-7B-Instruct", "qwen"),
    ("qwen3", "Qwen3-8B", "qwen3"),
    ("llama", "Meta-Llama-3-8B-Instruct", "llama3"),
    ("llama", "Llama-2-7b-chat-hf", "llama2"),
    ("mistral", "Mistral-7B-Instruct-v0.3", "mistral"),
    ("chatglm", "glm-4-9b-chat", "glm4"),
    ("bloom", "bloomz-560m", "default"),
])
def test_template_mapping(tmp_path, model_type, name, template):
    folder = tmp_path / name
    folder.mkdir()
    known = modelcheck.llamafactory_templates()
    assert known and template in known
    assert modelcheck.suggest_template({"model_type": model_type}, folder, known)[0] == template


def test_broken_folders_name_what_is_wrong(tmp_path):
    no_tok = _model(tmp_path / "a")
    (no_tok / "tokenizer.json").unlink()
    assert "no tokenizer files" in modelcheck.inspect(no_tok, load=False).problems[0]

    no_weights = _model(tmp_path / "b")
    (no_weights / "model.safetensors").unlink()
    assert modelcheck.inspect(no_weights, load=False).problems == ["no weights (*.safetensors or pytorch_model*.bin)"]

    sharded = _model(tmp_path / "c")
    (sharded / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "model.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    (sharded / "model-00002-of-00002.safetensors.incomplete").write_bytes(b"x")
    report = modelcheck.inspect(sharded, load=False)
    assert report.problems == ["model.safetensors.index.json names missing shard(s): model-00002-of-00002.safetensors"]
    assert "unfinished download" in report.warnings[0]

    bad_config = tmp_path / "d"
    bad_config.mkdir()
    (bad_config / "config.json").write_text("{oops")
    assert "config.json is not valid JSON" in modelcheck.inspect(bad_config, load=False).problems[0]

    adapter = tmp_path / "e"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "/models/Qwen2-0.5B"}')
    assert "LoRA adapter, not a model (base model: /models/Qwen2-0.5B)" in modelcheck.inspect(adapter).problems[0]

    truncated = _model(tmp_path / "f")
    (truncated / "model.safetensors").write_bytes(struct.pack("<Q", 10**6) + b"{}")
    assert "cannot read safetensors header" in modelcheck.inspect(truncated, load=False).problems[0]

    with pytest.raises(MedtuiError, match="model folder not found"):
        modelcheck.inspect(tmp_path / "missing")


def test_demo_model_loads_and_a_broken_tokenizer_fails(tmp_path, demo_template):
    """Both real loads run at once (each imports transformers in its own process)."""
    import os
    import shutil
    import subprocess
    import sys

    from tests.conftest import ROOT

    folder = demo_template.models_dir / "workflow-demo-tiny-qwen2"
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "tokenizer.json").write_text("this is not a tokenizer")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    runs = [subprocess.Popen([sys.executable, "-m", "medtui", "model", "check", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
            for args in (["models/workflow-demo-tiny-qwen2", "--json", "--workspace", str(demo_template.root)],
                         [str(broken)])]
    (good_out, good_err), (bad_out, bad_err) = (p.communicate(timeout=300) for p in runs)

    assert runs[0].returncode == 0, good_err
    report = json.loads(good_out)
    expected = json.loads((folder / "medtui_demo.json").read_text())["parameters"]  # counted by torch at build time
    assert report["params"] == expected
    assert report["template"] == "default" and report["status"] == "ok"
    assert report["loaded"]["config"]["class"] == "Qwen2Config"
    assert report["loaded"]["tokenizer"]["vocab_size"] > 100

    assert runs[1].returncode == 1
    assert "transformers cannot load the tokenizer" in bad_out and "Traceback" not in bad_err
    assert medtui_cli("model", "check", str(tmp_path / "nowhere")).returncode == 2
