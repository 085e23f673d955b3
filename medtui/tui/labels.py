"""Per-screen label tables: ``{lang: {key: template}}`` looked up with an English fallback."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

Labels = dict[str, dict[str, str]]


def lookup(labels: Labels, lang: str, key: str, **values: Any) -> str:
    template = labels.get(lang, {}).get(key) or labels["en"].get(key) or key
    return template.format(**values) if values else template


def relabel_bindings(labels: Labels, node, lang: str) -> None:
    """Give ``node``'s bindings the descriptions of ``lang`` (looked up by binding id)."""
    table = node._bindings.key_to_bindings
    for key, bindings in list(table.items()):
        table[key] = [replace(b, description=lookup(labels, lang, b.id)) if b.id and b.id in labels["en"] else b
                      for b in bindings]
