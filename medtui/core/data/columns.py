"""Dataset entry fields: llamafactory's column and tag defaults, and the texts of a record that
count towards its length (:mod:`medtui.core.data.detect` guesses an entry from records)."""

from __future__ import annotations

from typing import Any, Iterable

FORMATS = ("alpaca", "sharegpt", "openai")
COLUMN_KEYS = ("prompt", "query", "response", "history", "messages", "system", "tools",
               "chosen", "rejected", "kto_tag")
TAG_KEYS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")
DEFAULT_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "messages": "conversations"}
DEFAULT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "observation_tag": "tool", "function_tag": "function_call", "system_tag": "system"}


def formatting(entry: dict[str, Any]) -> str:
    return entry.get("formatting") or "alpaca"


def resolved_columns(entry: dict[str, Any]) -> dict[str, str | None]:
    """Column name per role, as llamafactory resolves them (a ``columns`` object unsets the rest)."""
    given = entry.get("columns")
    if isinstance(given, dict):
        return {key: given.get(key) for key in COLUMN_KEYS}
    return {key: DEFAULT_COLUMNS.get(key) for key in COLUMN_KEYS}


def resolved_tags(entry: dict[str, Any]) -> dict[str, str | None]:
    given = entry.get("tags")
    if isinstance(given, dict):
        return {key: given.get(key) for key in TAG_KEYS}
    return dict(DEFAULT_TAGS)


def keys_of(records: Iterable[dict[str, Any]]) -> list[str]:
    """The keys found in ``records``, in first-seen order (offered as column choices)."""
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key, None)
    return list(seen)


def record_texts(entry: dict[str, Any], record: dict[str, Any]) -> dict[str, str]:
    """The texts of one record by role (prompt, query, response, history, messages, system, chosen,
    rejected), as the entry maps them; roles the record lacks are left out."""
    cols = resolved_columns(entry)
    out: dict[str, str] = {}
    fmt = formatting(entry)
    content = resolved_tags(entry)["content_tag"] or "value"
    for role in ("prompt", "query", "response", "system", "history", "messages", "chosen", "rejected"):
        column = cols.get(role)
        if not column or column not in record:
            continue
        text = _text(record[column], content if fmt != "alpaca" else None)
        if text is not None:
            out[role] = text
    return out


def _text(value: Any, content_tag: str | None) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and content_tag and isinstance(value.get(content_tag), str):
        return value[content_tag]
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, str):
                parts.append(item)
            elif isinstance(item, list):  # alpaca history: [[query, response], ...]
                parts.extend(x for x in item if isinstance(x, str))
            elif isinstance(item, dict) and content_tag and isinstance(item.get(content_tag), str):
                parts.append(item[content_tag])
        return "\n".join(parts)
    return None


def record_length(lengths: dict[str, int]) -> int:
    """A record's length from its parts: the shared parts plus the longer of chosen and rejected."""
    shared = sum(n for role, n in lengths.items() if role not in ("chosen", "rejected"))
    return shared + max(lengths.get("chosen", 0), lengths.get("rejected", 0))
