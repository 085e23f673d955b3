"""The pipeline loop's decisions, with stand-in runs (what the chain does between stages; the real
chain and real stages are in tests/e2e/test_pipeline_detached_e2e.py): stop requests, resume
identities that change when a stage's config or an earlier stage's run changes, pipeline notes."""

from __future__ import annotations

import json
from pathlib import Path

from medtui.core.lifecycle.pipeline import parse_pipeline, run_pipeline, stage_identity
from medtui.core.runs.records import Run
from medtui.core.runs.states import final_state, pipeline_note

PIPE = {"name": "t", "defaults": {"template": "default"}, "stages": [
    {"name": "pt", "stage": "pt", "model_name_or_path": "m", "dataset": "d", "output_dir": "o/pt"},
    {"name": "sft", "stage": "sft", "dataset": "d", "output_dir": "o/sft"},
    {"name": "dpo", "stage": "dpo", "dataset": "p", "output_dir": "o/dpo"},
    {"name": "kto", "stage": "kto", "dataset": "k", "output_dir": "o/kto"},
    {"name": "export", "stage": "export", "export_from": "dpo", "export_dir": "o/exp"},
]}


class Runs:
    """Stand-in runs that end at once with a chosen status; records what started."""

    def __init__(self, tmp: Path, fail: str | None = None):
        self.tmp, self.fail, self.started, self.identities = tmp, fail, [], {}

    def start(self, stage, config, identity):
        self.started.append(stage.name)
        self.identities[stage.name] = identity
        run_id = f"run-{len(self.started)}-{stage.name}"
        status = "failed" if stage.name == self.fail else "succeeded"
        record = {"id": run_id, "stage": stage.stage, "kind": "export" if stage.stage == "export" else "train",
                  "status": status, "output_dir": str(self.tmp / stage.name), "config": config,
                  "pipeline_stage": {"name": stage.name, "identity": identity}, "error": "boom" if status == "failed"
                  else None}
        return Run(self.tmp / run_id, record)

    def reuse_from(self, earlier: "Runs"):
        by = {(n, i): n for n, i in earlier.identities.items()}

        def reuse(stage, identity):
            if (stage.name, identity) in by and stage.name != earlier.fail:
                n = earlier.started.index(stage.name) + 1
                return Run(self.tmp / f"old-{stage.name}", {"id": f"run-{n}-{stage.name}", "stage": stage.stage,
                                                            "status": "succeeded",
                                                            "output_dir": str(self.tmp / stage.name)})
            return None
        return reuse


def test_a_stop_request_starts_no_further_stage(tmp_path):
    runs, events = Runs(tmp_path), []
    pipeline = parse_pipeline(PIPE)
    results = run_pipeline(pipeline, runs.start, lambda r: r, should_stop=lambda: len(runs.started) >= 2,
                           on_event=lambda k, p: events.append(k))
    assert runs.started == ["pt", "sft"] and [r.status for r in results] == ["succeeded", "succeeded"]
    assert events[-1] == "stopping"


def test_resume_skips_what_succeeded_and_reruns_from_the_failure(tmp_path):
    pipeline = parse_pipeline(PIPE)
    first = Runs(tmp_path, fail="dpo")
    run_pipeline(pipeline, first.start, lambda r: r)
    assert first.started == ["pt", "sft", "dpo"]
    second = Runs(tmp_path)
    results = run_pipeline(pipeline, second.start, lambda r: r, reuse=second.reuse_from(first))
    assert [r.status for r in results] == ["skipped", "skipped", "succeeded", "succeeded", "succeeded"]
    assert second.started == ["dpo", "kto", "export"]
    assert second.identities["dpo"] == first.identities["dpo"]  # same config, same sft run underneath


def test_a_changed_stage_reruns_it_and_everything_built_on_it(tmp_path):
    pipeline = parse_pipeline(PIPE)
    first = Runs(tmp_path)
    run_pipeline(pipeline, first.start, lambda r: r)
    changed = json.loads(json.dumps(PIPE))
    changed["stages"][1]["learning_rate"] = 1e-5  # sft changes
    second = Runs(tmp_path)
    results = run_pipeline(parse_pipeline(changed), second.start, lambda r: r, reuse=second.reuse_from(first))
    assert [r.status for r in results][0] == "skipped"  # pt is untouched
    assert second.started == ["sft", "dpo", "kto", "export"]


def test_identity_depends_on_config_and_inputs_only():
    pipeline = parse_pipeline(PIPE)
    from medtui.core.lifecycle.wiring import Produced

    sft = pipeline.stages[1]
    a = Produced("pt", "o/pt", "full", "m", run_id="r1")
    b = Produced("pt", "o/pt", "full", "m", run_id="r2")
    assert stage_identity(sft, {"pt": a}) == stage_identity(sft, {"pt": a})
    assert stage_identity(sft, {"pt": a}) != stage_identity(sft, {"pt": b})
    assert stage_identity(sft, {"pt": a}) == stage_identity(sft, {"pt": a, "dpo": b})  # not an input of sft


def test_pipeline_notes(tmp_path):
    state = {"name": "demo", "ref": "demo", "stages": [
        {"name": "pt", "status": "succeeded"}, {"name": "sft", "status": "skipped"},
        {"name": "rm", "status": "pending"}]}
    (tmp_path / "pipeline.json").write_text(json.dumps(state))
    assert pipeline_note(tmp_path) == ("stopped after stage sft (2 of 3 stages done); resume with: "
                                       "medtui pipeline demo --resume")
    end = final_state(0, "graceful", kind="pipeline", output_dir=tmp_path, started=None, stderr=tmp_path / "e")
    assert end["status"] == "stopped" and end["saved"].startswith("stopped after stage sft")
    state["stages"][2].update(status="failed", reason="exit code 1: ValueError: x")
    (tmp_path / "pipeline.json").write_text(json.dumps(state))
    end = final_state(1, None, kind="pipeline", output_dir=tmp_path, started=None, stderr=tmp_path / "e")
    assert end == {"exit_code": 1, "signal": None, "status": "failed",
                   "error": "stage rm failed: exit code 1: ValueError: x"}
    assert final_state(0, None, kind="pipeline", output_dir=tmp_path, started=None,
                       stderr=tmp_path / "e")["status"] == "succeeded"
    assert final_state(-9, "kill", kind="pipeline", output_dir=tmp_path, started=None,
                       stderr=tmp_path / "e")["status"] == "killed"
