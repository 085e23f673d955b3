"""Check a local model folder before training on it (the tutorial's "验证模型" step).

Files present (config.json, tokenizer, weights and every shard an index names); architecture,
dtype and context length from config.json; the parameter count from the safetensors headers
(no torch needed); config and tokenizer loaded by transformers in a subprocess
(:mod:`modelcheck_worker`); and the llamafactory template to use.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medtui.core.env.child import child_env
from medtui.core.errors import MedtuiError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "qwen.tiktoken", "tokenizer.tiktoken")
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "seq_length", "max_sequence_length", "n_ctx")
#: (model_type, regex on the folder/model name or None, template), first match wins.
TEMPLATE_RULES: tuple[tuple[str, str | None, str], ...] = (
    ("qwen3", None, "qwen3"), ("qwen3_moe", None, "qwen3"),
    ("qwen2", None, "qwen"), ("qwen2_moe", None, "qwen"), ("qwen", None, "qwen"),
    ("llama", r"llama-?3", "llama3"), ("llama", r"llama-?2.*chat", "llama2"), ("llama", r"\byi\b|^yi-", "yi"),
    ("llama4", None, "llama4"), ("mistral", None, "mistral"), ("mixtral", None, "mistral"),
    ("gemma", None, "gemma"), ("gemma2", None, "gemma2"), ("gemma3", None, "gemma3"), ("gemma3_text", None, "gemma3"),
    ("chatglm", r"glm-?4", "glm4"), ("chatglm", None, "chatglm3"), ("glm4", None, "glm4"),
    ("internlm2", None, "intern2"), ("phi3", None, "phi"), ("phi", None, "phi"),
    ("deepseek_v3", None, "deepseek3"), ("deepseek_v2", None, "deepseek"), ("gpt_oss", None, "gpt_oss"),
    ("olmo", None, "olmo"), ("falcon", None, "falcon"), ("cohere", None, "cohere"), ("exaone", None, "exaone"),
    ("granite", None, "granite3"), ("telechat", None, "telechat2"), ("ernie4_5", None, "ernie"),
)
DEMO_MARKER = "medtui_demo.json"


@dataclass
class ModelReport:
    path: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    architecture: str | None = None
    model_type: str | None = None
    params: int | None = None
    dtype: str | None = None
    weight_dtypes: dict[str, int] = field(default_factory=dict)
    context_length: int | None = None
    vocab_size: int | None = None
    weights: list[str] = field(default_factory=list)
    tokenizer_files: list[str] = field(default_factory=list)
    template: str = "default"
    template_reason: str = ""
    loaded: dict[str, Any] | None = None
    adapter_base: str | None = None

    @property
    def status(self) -> str:
        return "fail" if self.problems else "warn" if self.warnings else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "status": self.status, "problems": self.problems, "warnings": self.warnings,
                "architecture": self.architecture, "model_type": self.model_type, "params": self.params,
                "dtype": self.dtype, "weight_dtypes": self.weight_dtypes, "context_length": self.context_length,
                "vocab_size": self.vocab_size, "weights": self.weights, "tokenizer_files": self.tokenizer_files,
                "template": self.template, "template_reason": self.template_reason, "loaded": self.loaded,
                "adapter_base": self.adapter_base}

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for display."""
        load = "not loaded"
        if self.loaded is not None:
            tok = self.loaded.get("tokenizer") or {}
            load = (f"error ({self.loaded.get('stage')}): {self.loaded['error']}" if self.loaded.get("error")
                    else f"config {self.loaded['config']['class']}, tokenizer {tok.get('class')} ({tok.get('vocab_size')} tokens)")
        return [
            ("architecture", self.architecture or "?"),
            ("parameters", format_params(self.params) if self.params else "unknown (no safetensors)"),
            ("dtype", self.dtype or "?"),
            ("context length", str(self.context_length) if self.context_length else "?"),
            ("weights", ", ".join(self.weights[:3]) + (f" (+{len(self.weights) - 3})" if len(self.weights) > 3 else "")
             or "none"),
            ("tokenizer", ", ".join(self.tokenizer_files) or "none"),
            ("load", load),
            ("template", f"{self.template} ({self.template_reason})"),
        ]


def format_params(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit} ({n:,})"
    return f"{n:,}"


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file (8-byte little-endian length, then JSON)."""
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise ValueError("file shorter than a safetensors header")
        (length,) = struct.unpack("<Q", raw)
        if length > 100 * 1024 * 1024 or length > path.stat().st_size - 8:
            raise ValueError(f"implausible header length {length}")
        return json.loads(fh.read(length))


def count_parameters(files: list[Path]) -> tuple[int, Counter]:
    """Total parameters and element counts per dtype over safetensors files."""
    total, dtypes = 0, Counter()
    for file in files:
        for name, info in safetensors_header(file).items():
            if name == "__metadata__" or not isinstance(info, dict):
                continue
            count = 1
            for dim in info.get("shape", []):
                count *= int(dim)
            total += count
            dtypes[str(info.get("dtype", "?"))] += count
    return total, dtypes


_ST_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64", "I8": "int8", "U8": "uint8",
              "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


def llamafactory_templates() -> set[str] | None:
    """The chat templates the installed llamafactory registers (read from its source, never imported)."""
    from medtui.core.env.llamafactory_compat import templates

    known = templates()
    return None if known is None else set(known)


def suggest_template(config: dict[str, Any], folder: Path, known: set[str] | None = None) -> tuple[str, str]:
    """(template, reason) for llamafactory's ``template`` argument."""
    if (folder / DEMO_MARKER).exists():
        return "default", "medtui's workflow demo model is trained with the default template"
    model_type = str(config.get("model_type") or "").lower()
    name = folder.name.lower()
    for rule_type, pattern, template in TEMPLATE_RULES:
        if model_type != rule_type or (pattern and not re.search(pattern, name)):
            continue
        if known is not None and template not in known:
            continue
        chat = re.search(r"instruct|chat|-it\b|-it-", name)
        why = f"model_type {model_type}" + (f", name {folder.name}" if pattern else "")
        if not chat:
            why += "; a base model also trains with default, as the tutorial does"
        return template, why
    return "default", f"no known chat template for model_type {model_type or '?'}"


def _weights(folder: Path, report: ModelReport) -> list[Path]:
    files: list[Path] = []
    for pattern in WEIGHT_GLOBS:
        files += [p for p in sorted(folder.glob(pattern)) if p not in files and not p.name.startswith("adapter_")]
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if not index.exists():
            continue
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            report.problems.append(f"{index_name} is not a valid index ({type(exc).__name__})")
            continue
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            report.problems.append(f"{index_name} names missing shard(s): {', '.join(missing[:5])}")
    return files


def inspect(folder: str | Path, *, load: bool = True, timeout: float = 180.0, env: dict[str, str] | None = None
            ) -> ModelReport:
    """Check a model folder. A missing folder raises MedtuiError; everything else is in the report."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise MedtuiError(f"model folder not found: {folder}")
    report = ModelReport(folder.resolve())
    config = _read_config(folder, report)
    partial = sorted(p.name for p in folder.rglob("*.incomplete"))
    if partial:
        report.warnings.append(f"unfinished download ({', '.join(partial[:3])}); run the same download again")
    if config is None:
        return report
    report.tokenizer_files = [n for n in TOKENIZER_FILES if (folder / n).is_file()]
    if not report.tokenizer_files:
        report.problems.append("no tokenizer files (tokenizer.json, tokenizer.model, vocab.json, ...)")
    weights = _weights(folder, report)
    report.weights = [w.name for w in weights]
    if not weights:
        report.problems.append("no weights (*.safetensors or pytorch_model*.bin)")
    safetensors = [w for w in weights if w.suffix == ".safetensors"]
    if safetensors:
        try:
            params, dtypes = count_parameters(safetensors)
            report.params = params
            report.weight_dtypes = {_ST_DTYPES.get(k, k): v for k, v in dtypes.most_common()}
        except (OSError, ValueError) as exc:
            report.problems.append(f"cannot read safetensors header: {exc}")
    elif weights:
        report.warnings.append("weights are .bin only: parameter count needs safetensors")
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    report.architecture = (config.get("architectures") or [None])[0]
    report.model_type = config.get("model_type")
    report.dtype = config.get("dtype") or config.get("torch_dtype") or next(iter(report.weight_dtypes), None)
    report.context_length = next((int(v) for k in CONTEXT_KEYS for v in [config.get(k, text.get(k))]
                                  if isinstance(v, int)), None)
    report.vocab_size = config.get("vocab_size") or text.get("vocab_size")
    report.template, report.template_reason = suggest_template(config, folder, llamafactory_templates())
    if load:
        report.loaded = load_in_subprocess(folder, timeout=timeout, env=env)
        if report.loaded.get("error"):
            report.problems.append(f"transformers cannot load the {report.loaded.get('stage', '')}: "
                                   f"{report.loaded['error']}")
    return report


def _read_config(folder: Path, report: ModelReport) -> dict[str, Any] | None:
    config_path = folder / "config.json"
    if not config_path.is_file():
        adapter = folder / "adapter_config.json"
        if adapter.is_file():
            try:
                report.adapter_base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path")
            except ValueError:
                pass
            report.problems.append(f"this is a LoRA adapter, not a model (base model: {report.adapter_base or '?'}); "
                                   "check the base model, or merge with medtui export")
        else:
            report.problems.append("config.json is missing: not a Hugging Face model folder")
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.problems.append(f"config.json is not valid JSON ({exc})")
        return None
    if not isinstance(config, dict):
        report.problems.append("config.json is not a JSON object")
        return None
    return config


def load_in_subprocess(folder: Path, *, timeout: float = 180.0, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Load config + tokenizer with transformers in a child process (with medtui's run env)."""
    full = child_env(run_env=True) if env is None else env
    full.setdefault("HF_HUB_OFFLINE", "1")
    try:
        proc = subprocess.run([sys.executable, "-m", "medtui.workers.modelcheck", str(folder)], capture_output=True,
                              text=True, timeout=timeout, env=full, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"error": f"loading took longer than {timeout:.0f} s", "stage": "load"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {"error": tail[0][:300], "stage": "import"}
