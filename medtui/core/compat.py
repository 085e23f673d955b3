"""Which training stages accept a registered dataset, judged from its ``dataset_info.json`` entry."""

from __future__ import annotations

from typing import Any

TRAIN_STAGES = ("pt", "sft", "rm", "ppo", "dpo", "kto")
RANKING_STAGES = ("rm", "dpo")


def _columns(entry: dict[str, Any]) -> dict[str, Any]:
    """llamafactory's column resolution: with a ``columns`` object, unlisted columns are unset."""
    if "columns" in entry and isinstance(entry.get("columns"), dict):
        return entry["columns"]
    return {"prompt": "instruction", "query": "input", "response": "output", "messages": "conversations"}


def fits(stage: str, entry: dict[str, Any]) -> str | None:
    """None when ``stage`` can train on ``entry``, else the reason it cannot."""
    ranking = bool(entry.get("ranking"))
    columns = _columns(entry)
    alpaca = (entry.get("formatting") or "alpaca") == "alpaca"
    if stage in RANKING_STAGES:
        return None if ranking else f"{stage} needs a preference dataset (\"ranking\": true)"
    if ranking:
        return f"{stage} cannot use a preference (ranking) dataset"
    if stage == "kto" and not columns.get("kto_tag"):
        return "kto needs a kto_tag column of true/false labels"
    if stage == "pt" and not (alpaca and columns.get("prompt")):
        return "pt needs a text column mapped as columns.prompt (alpaca formatting)"
    if stage in ("sft", "kto") and alpaca and not columns.get("response"):
        return f"{stage} needs a response column"
    if not alpaca and not columns.get("messages"):
        return f"{stage} needs a messages column"
    return None


def stages_for(entry: dict[str, Any]) -> list[str]:
    """The training stages that accept ``entry``, in lifecycle order."""
    return [stage for stage in TRAIN_STAGES if fits(stage, entry) is None]
