"""Pre-flight uses the memory estimate: a refusal above the free GPU memory, a warning near it, an override."""

from __future__ import annotations

import json

import pytest

from medtui.core.estimate import GpuFacts
from medtui.core.estimate.memory import GiB
from medtui.core.stages import preflight
from medtui.core.stages.builder import build_plan
from medtui.core.stages.launch import try_launch
from tests.unit.test_estimate import LLAMA3_8B


def _env(free_gib: float | None):
    facts = GpuFacts((int(free_gib * GiB),), "NVIDIA A100-SXM4-80GB", "nvml") if free_gib else GpuFacts()
    return preflight.Environment(disk_free=lambda _p: 10**13, bf16_support=lambda: (True, ""),
                                 gpu_facts=lambda _devices: facts)


@pytest.fixture
def big_ws(demo_ws):
    folder = demo_ws.models_dir / "llama3-8b"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA3_8B), encoding="utf-8")  # config only, no weights
    return demo_ws


def sft(**over):
    cfg = {"stage": "sft", "finetuning_type": "full", "model_name_or_path": "models/llama3-8b",
           "dataset": "demo_sft_train_data", "template": "default", "output_dir": "saves/big", "bf16": True,
           "cutoff_len": 2048, "per_device_train_batch_size": 2}
    cfg.update(over)
    return cfg


def memory_problems(ws, cfg, free_gib):
    plan = build_plan(cfg, ws)
    return [p for p in preflight.check(plan, ws, _env(free_gib)) if p.field == "memory_check"]


def test_refused_above_free_memory_with_a_fix_list(big_ws):
    found = memory_problems(big_ws, sft(), 80)
    assert [p.level for p in found] == ["error"]
    msg = found[0].message
    assert "per GPU" in msg and "80.00 GiB is free" in msg and "Try:" in msg
    assert "finetuning_type=lora" in msg or "deepspeed_stage=3" in msg
    assert "memory_check false" in msg
    run, reason = try_launch(sft(), big_ws, env=_env(80))
    assert run is None and "run out of memory" in reason


def test_override_turns_the_refusal_into_a_warning(big_ws):
    found = memory_problems(big_ws, sft(memory_check=False), 80)
    assert [p.level for p in found] == ["warn"]
    plan = build_plan(sft(memory_check=False), big_ws)
    assert "memory_check" not in plan.yaml_config  # a medtui launch setting, never in the YAML


def test_warning_close_to_the_limit(big_ws):
    cfg = sft(finetuning_type="lora")
    need = preflight.plan_estimate(build_plan(cfg, big_ws), facts=GpuFacts((int(200 * GiB),), "A100", "nvml"))
    free = need.per_gpu_bytes / 0.95 / GiB  # 95 % used
    found = memory_problems(big_ws, cfg, free)
    assert [p.level for p in found] == ["warn"] and "little headroom" in found[0].message
    assert memory_problems(big_ws, cfg, need.per_gpu_bytes * 2 / GiB) == []


def test_no_gpu_no_memory_problem(big_ws):
    assert memory_problems(big_ws, sft(), None) == []


def test_predict_only_runs_are_not_sized(big_ws):
    assert memory_problems(big_ws, sft(do_train=False, do_predict=True, eval_dataset="demo_sft_train_data"), 1) == []
