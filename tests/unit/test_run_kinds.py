"""Run kinds: one derivation for plans and for records older than ``kind``; what the Monitor shows for
the kinds without a loss curve (evaluate, benchmark)."""

from __future__ import annotations

import json

import pytest

from medtui.core.outcome import outcome
from medtui.core.runs.plan import kind_of
from medtui.core.runs.records import RESULT_KINDS, RUN_KINDS, Run


@pytest.mark.parametrize("stage, config, kind", [
    ("sft", {"do_train": True}, "train"),
    ("sft", {}, "train"),
    ("sft", {"do_train": False, "do_predict": True}, "predict"),
    ("sft", {"do_train": False, "do_eval": True}, "evaluate"),
    ("pt", {"do_train": False, "do_eval": True}, "evaluate"),
    ("eval", {}, "benchmark"),
    ("export", {}, "export"),
])
def test_a_record_without_kind_gets_the_kind_its_plan_would_record(tmp_path, stage, config, kind):
    assert kind_of(stage, config) == kind
    run = Run(tmp_path, {"id": "r", "stage": stage, "config": config, "output_dir": str(tmp_path)})
    assert run.kind == kind
    assert set(RESULT_KINDS) <= set(RUN_KINDS) and kind in RUN_KINDS


def test_an_evaluation_shows_loss_and_perplexity(tmp_path):
    run = Run(tmp_path, {"id": "r", "stage": "sft", "kind": "evaluate", "output_dir": str(tmp_path)})
    assert outcome(run).ready is False
    (tmp_path / "eval_results.json").write_text(json.dumps({"eval_loss": 2.0}))
    found = outcome(run)
    assert found.ready and found.lines[0].startswith("loss 2.0000  perplexity 7.39")


def test_a_benchmark_shows_its_table_and_survives_a_broken_one(tmp_path):
    run = Run(tmp_path, {"id": "r", "stage": "eval", "kind": "benchmark", "output_dir": str(tmp_path)})
    assert outcome(run).ready is False
    results = {"task": "cmmlu", "average": 50.0,
               "subjects": [{"subject": "anatomy", "accuracy": 50.0, "correct": 1, "total": 2, "category": "STEM"}]}
    (tmp_path / "bench_results.json").write_text(json.dumps(results))
    found = outcome(run)
    assert found.ready and any(line.startswith("anatomy") for line in found.lines)
    (tmp_path / "bench_results.json").write_text(json.dumps({"subjects": [{"subject": "x"}]}))
    assert "unreadable results" in outcome(run).lines[0]
