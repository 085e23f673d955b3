"""Chat, predict and export plumbing that needs no model load: protocol, settings, transcripts,
model resolution, predict configs and results, the worker's answers to bad requests, and the
rule that the UI never imports torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from medtui.core.chat.models import model_sources, resolve_model, suggest_template
from medtui.core.errors import MedtuiError

ROOT = Path(__file__).resolve().parents[2]


# -- protocol -----------------------------------------------------------------------------------
# -- generation settings ------------------------------------------------------------------------
# -- transcripts --------------------------------------------------------------------------------
# -- model resolution ---------------------------------------------------------------------------
@pytest.mark.e2e  # needs the trained demo workspace
def test_resolve_model_folders_runs_and_stage_names(trained_ws):
    ws = trained_ws
    sft = ws.saves_dir / "workflow-demo" / "full" / "sft"
    dpo = ws.saves_dir / "workflow-demo" / "lora" / "dpo"
    kto = ws.saves_dir / "workflow-demo" / "lora" / "kto"
    by_stage = resolve_model(ws, "dpo")
    assert by_stage.model == str(sft) and by_stage.adapters == (str(dpo),) and by_stage.run_id
    by_folder = resolve_model(ws, "saves/workflow-demo/lora/dpo")
    assert (by_folder.model, by_folder.adapters) == (by_stage.model, by_stage.adapters)
    assert resolve_model(ws, by_stage.run_id).adapters == (str(dpo),)
    stacked = resolve_model(ws, "sft", ["saves/workflow-demo/lora/kto"])
    assert stacked.model == str(sft) and stacked.adapters == (str(kto),)
    export = resolve_model(ws, "export")  # the newest export run: a merged model, no adapters
    assert "saves/workflow-demo/export/" in export.model and export.adapters == ()
    merged = resolve_model(ws, "saves/workflow-demo/export/dpo-merged")
    assert merged.model.endswith("dpo-merged") and merged.adapters == () and merged.run_id
    assert suggest_template(by_stage) == "default"
    labels = [s.label for s in model_sources(ws)]
    assert any(label.startswith("dpo · saves/workflow-demo/lora/dpo") for label in labels)
    assert not any("lora/rm" in label for label in labels)  # a reward model cannot chat


@pytest.mark.e2e  # needs the trained demo workspace
def test_resolve_model_bad_references(trained_ws):
    ws = trained_ws
    with pytest.raises(MedtuiError, match="neither a folder"):
        resolve_model(ws, "no-such-model")
    with pytest.raises(MedtuiError, match="model folder not found"):
        resolve_model(ws, "saves/nothing/here")
    with pytest.raises(MedtuiError, match="adapter folder not found"):
        resolve_model(ws, "sft", ["saves/missing-adapter"])
    with pytest.raises(MedtuiError, match="not a LoRA adapter"):
        resolve_model(ws, "sft", ["saves/workflow-demo/full/pt"])
    with pytest.raises(MedtuiError, match="rm run"):
        resolve_model(ws, "rm")
    with pytest.raises(MedtuiError, match="not a model folder"):
        resolve_model(ws, "data")
    with pytest.raises(MedtuiError, match="no model given"):
        resolve_model(ws, " ")


# -- predict configs and results ----------------------------------------------------------------
# -- the worker without a model -----------------------------------------------------------------
# -- the UI process never imports torch ---------------------------------------------------------
