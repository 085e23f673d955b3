"""Which training stages accept a registered dataset: the one rule that pre-flight, the Train form's
picker and the Datasets screen share, judged from the ``dataset_info.json`` entry alone.

rm and dpo need a preference dataset (``"ranking": true``); pt, sft, kto and ppo need a plain one;
kto also needs a ``kto_tag`` column; pt needs a text column; sft and kto need a response column.
Export takes no dataset.
"""

from __future__ import annotations

from typing import Any, Iterable

TRAIN_STAGES = ("pt", "sft", "rm", "ppo", "dpo", "kto")
RANKING_STAGES = ("rm", "dpo")


def _columns(entry: dict[str, Any]) -> dict[str, Any]:
    """llamafactory's column resolution: with a ``columns`` object, unlisted columns are unset."""
    if isinstance(entry.get("columns"), dict):
        return entry["columns"]
    return {"prompt": "instruction", "query": "input", "response": "output", "messages": "conversations"}


def fits(stage: str, entry: dict[str, Any]) -> str | None:
    """None when ``stage`` can train on ``entry``, else the reason it cannot."""
    ranking = bool(entry.get("ranking"))
    columns = _columns(entry)
    alpaca = (entry.get("formatting") or "alpaca") == "alpaca"
    if stage in RANKING_STAGES:
        return None if ranking else f"stage {stage} needs a preference dataset with \"ranking\": true"
    if ranking:
        return f"stage {stage} cannot use a ranking (preference) dataset"
    if stage == "kto" and not columns.get("kto_tag"):
        return "stage kto needs a kto_tag column of true/false labels"
    if stage == "pt" and not (alpaca and columns.get("prompt")):
        return "stage pt needs a text column mapped as columns.prompt (alpaca formatting)"
    if stage in ("sft", "kto") and alpaca and not columns.get("response"):
        return f"stage {stage} needs a response column"
    if not alpaca and not columns.get("messages"):
        return f"stage {stage} needs a messages column"
    return None


def dataset_problem(stage: str, name: str, entry: dict[str, Any]) -> str | None:
    """:func:`fits` phrased for dataset ``name``; None when it can train ``stage``."""
    reason = fits(stage, entry) if isinstance(entry, dict) else "the registry entry is not a JSON object"
    return f"{name}: {reason}" if reason else None


def stages_for(entry: dict[str, Any]) -> list[str]:
    """The training stages that accept ``entry``, in lifecycle order."""
    return [stage for stage in TRAIN_STAGES if fits(stage, entry) is None]


def compatible(stage: str, items: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    """The names among ``items`` (name, entry) that ``stage`` can train on, in their order."""
    if stage == "export":
        return []
    return [name for name, entry in items if isinstance(entry, dict) and fits(stage, entry) is None]
