"""Which datasets a stage can train on: the one rule the pre-flight checks and the TUI picker share.

rm and dpo need a preference dataset (``"ranking": true``); pt, sft, kto and ppo need a plain one;
kto also needs a ``kto_tag`` column of true/false labels. Export takes no dataset.
"""

from __future__ import annotations

from typing import Any, Iterable

RANKING_STAGES = ("rm", "dpo")
PLAIN_STAGES = ("pt", "sft", "kto", "ppo")


def dataset_problem(stage: str, name: str, entry: dict[str, Any]) -> str | None:
    """Why dataset ``name`` (its dataset_info.json ``entry``) cannot train ``stage``; None when it can."""
    ranking = bool(entry.get("ranking"))
    if stage in RANKING_STAGES and not ranking:
        return f"{name}: stage {stage} needs a preference dataset with \"ranking\": true"
    if stage in PLAIN_STAGES and ranking:
        return f"{name}: stage {stage} cannot use a ranking (preference) dataset"
    columns = entry.get("columns") or {}
    if stage == "kto" and not (isinstance(columns, dict) and columns.get("kto_tag")):
        return f"{name}: stage kto needs a kto_tag column of true/false labels"
    return None


def compatible(stage: str, items: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    """The names among ``items`` (name, entry) that ``stage`` can train on, in their order."""
    if stage == "export":
        return []
    return [name for name, entry in items if isinstance(entry, dict) and dataset_problem(stage, name, entry) is None]
