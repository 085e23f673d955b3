"""The plain-Python parts behind the TUI: dataset compatibility, settings, spec docs, form model."""

from __future__ import annotations


def test_remaining_stages_and_the_workspace_pipeline(demo_ws, trained_ws, tmp_path):
    from medtui.core.lifecycle.pipeline import load_pipeline
    from medtui.core.lifecycle.queue import remaining_stages, workspace_pipeline
    from medtui.core.runs.records import list_runs
    from medtui.core.workspace import Workspace

    demo = workspace_pipeline(demo_ws)
    assert remaining_stages(demo, []) == [s.name for s in load_pipeline("demo").stages]
    assert remaining_stages(demo, list_runs(trained_ws.runs_dir)) == []
    plain = Workspace.open(tmp_path / "plain")
    plain.ensure_layout()
    assert workspace_pipeline(plain) is None
    (plain.root / "pipeline.yaml").write_text("name: mine\nstages:\n  - stage: sft\n    name: only-sft\n")
    assert workspace_pipeline(plain).stage_names() == ["only-sft"]


