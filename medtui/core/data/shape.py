"""The shapes llamafactory can read: a ``dataset_info.json`` entry, and each record's field types by
column role, as its ``DatasetAttr.join`` and dataset converters (``data/parser.py``,
``data/converter.py``) use them.

What goes wrong otherwise, late in a run:

* ``columns`` or ``tags`` that are not objects: ``AttributeError`` in ``DatasetAttr.join``;
* ``ranking`` without ``columns.chosen``/``rejected``: ``KeyError: None`` in the converter;
* a prompt or query that is not a string: ``TypeError: sequence item 0: expected str instance``;
* a response that is not a string: the record is silently treated as unsupervised and dropped;
* history items that are not ``[query, response]`` pairs: ``ValueError`` on unpacking;
* messages that are not objects with the role and content tags: ``TypeError``/``KeyError``.
"""

from __future__ import annotations

from typing import Any

from medtui.core.data.columns import COLUMN_KEYS, FORMATS, TAG_KEYS, formatting, resolved_columns, resolved_tags
from medtui.core.data.detect import detect_format

MEDIA_KEYS = ("images", "videos", "audios")
ROLES = COLUMN_KEYS + MEDIA_KEYS


def kind_of(value: Any) -> str:
    """A JSON value's kind, as a user reads it ("a string", "an object", ...)."""
    return {str: "a string", dict: "an object", list: "an array", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def entry_problems(entry: Any) -> list[tuple[str, str]]:
    """``(level, message)`` for a registry entry llamafactory would misread or reject."""
    if not isinstance(entry, dict):
        return [("error", f"the entry must be a JSON object, found {kind_of(entry)}")]
    out: list[tuple[str, str]] = []
    fmt = entry.get("formatting", "alpaca")
    if fmt is not None and fmt not in FORMATS:
        out.append(("error", f"formatting must be one of {', '.join(FORMATS)}, found {fmt!r}"))
    if "ranking" in entry and not isinstance(entry["ranking"], bool):
        out.append(("error", f"ranking must be true or false, found {kind_of(entry['ranking'])}"))
    if "file_name" in entry and not isinstance(entry["file_name"], str):
        out.append(("error", f"file_name must be a string, found {kind_of(entry['file_name'])}"))
    for key, known in (("columns", ROLES), ("tags", TAG_KEYS)):
        if key not in entry:
            continue
        value = entry[key]
        if not isinstance(value, dict):
            out.append(("error", f"{key} must be an object of {'role' if key == 'columns' else 'tag'}: name, "
                                 f"found {kind_of(value)}; llamafactory fails on it with AttributeError"))
            continue
        for role, name in value.items():
            if name is not None and not isinstance(name, str):
                out.append(("error", f"{key}.{role} must be a name (a string), found {kind_of(name)}"))
            elif role not in known:
                out.append(("warn", f"{key}.{role} is not a {key[:-1] if key == 'tags' else 'column role'} "
                                    f"llamafactory reads (known: {', '.join(known)})"))
    if entry.get("ranking") is True and isinstance(entry.get("columns", {}), dict):
        cols = resolved_columns(entry)
        unmapped = [r for r in ("chosen", "rejected") if not cols.get(r)]
        if unmapped:
            out.append(("error", f"ranking is true but {' and '.join('columns.' + r for r in unmapped)} "
                                 f"{'is' if len(unmapped) == 1 else 'are'} not mapped; llamafactory would fail with "
                                 f"KeyError: None (map them, or drop ranking for non-pairwise data)"))
    return out


def _is_str_or_null(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _media_ok(value: Any) -> bool:
    return value is None or isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, (str, list)) for v in value))


def record_type_problems(entry: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """Fields of ``record`` whose type llamafactory's converter for ``entry`` cannot use."""
    cols = resolved_columns(entry)
    given = entry.get("columns") if isinstance(entry.get("columns"), dict) else {}
    out: list[str] = []

    def bad(role: str, column: str, want: str) -> None:
        out.append(f"'{column}' ({role}) must be {want}, found {kind_of(record[column])}")

    fmt = formatting(entry)
    for role in ("system", "query", "prompt", "response"):
        column = cols.get(role)
        if fmt != "alpaca" and role in ("query", "prompt", "response"):
            continue
        if column and column in record and not _is_str_or_null(record[column]):
            bad(role, column, "a string")
    column = cols.get("tools")
    if column and column in record and not _is_str_or_null(record[column]):
        if not (fmt == "openai" and isinstance(record[column], (dict, list))):
            bad("tools", column, "a string (JSON text)")
    for role in MEDIA_KEYS:
        column = given.get(role)
        if column and column in record and not _media_ok(record[column]):
            bad(role, column, "a path or a list of paths")
    if fmt == "alpaca":
        column = cols.get("history")
        value = record.get(column) if column else None
        if value is not None and not (isinstance(value, list) and all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in value)):
            bad("history", column, "a list of [query, response] string pairs")
        if entry.get("ranking"):
            for role in ("chosen", "rejected"):
                column = cols.get(role)
                if column and column in record and not _is_str_or_null(record[column]):
                    bad(role, column, "a string")
    else:
        tags = resolved_tags(entry)
        role_tag, content_tag = tags["role_tag"], tags["content_tag"]
        column = cols.get("messages")
        value = record.get(column) if column else None
        if value is not None:
            if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
                bad("messages", column, "a list of message objects")
            else:
                for i, message in enumerate(value):
                    missing = [t for t in (role_tag, content_tag) if t not in message]
                    if missing:
                        out.append(f"'{column}' message {i} has no {' or '.join(repr(t) for t in missing)} "
                                   f"(keys: {', '.join(message) or 'none'}); check formatting and tags")
                        break
                    if not isinstance(message[role_tag], str) or not _is_str_or_null(message[content_tag]):
                        out.append(f"'{column}' message {i}: {role_tag!r} and {content_tag!r} must be strings")
                        break
        if entry.get("ranking"):
            for role in ("chosen", "rejected"):
                column = cols.get(role)
                if column and column in record:
                    message = record[column]
                    if not isinstance(message, dict):
                        bad(role, column, f"a message object ({role_tag}, {content_tag})")
                    elif not isinstance(message.get(role_tag), str) or not isinstance(message.get(content_tag), str):
                        out.append(f"'{column}' ({role}) needs string {role_tag!r} and {content_tag!r}")
    return out


def format_mismatch(entry: dict[str, Any], records: list[dict[str, Any]]) -> str | None:
    """Why the records do not look like the entry's formatting (alpaca vs. a messages list), or None."""
    if not records:
        return None
    fmt = formatting(entry)
    cols = resolved_columns(entry)
    if fmt == "alpaca":
        prompt = cols.get("prompt")
        lists = [k for k, v in records[0].items() if isinstance(v, list) and v and all(isinstance(m, dict) for m in v)]
        if lists and (not prompt or all(prompt not in r for r in records)):
            return (f"the records hold a list of messages ({lists[0]!r}) but the entry uses alpaca formatting; "
                    f"register it with --formatting sharegpt or openai")
        return None
    column = cols.get("messages")
    if not column or all(not isinstance(r.get(column), list) for r in records):
        keys = list(dict.fromkeys(k for r in records for k in r))
        what = f"no '{column}' list of messages" if column else "no messages column (columns.messages is unmapped)"
        looks = "; they look like alpaca records (use formatting alpaca)" if detect_format(records) == "alpaca" else ""
        return (f"formatting is {fmt} but the records have {what}, only {', '.join(keys[:8])}{looks}; "
                f"llamafactory would fail with KeyError")
    return None


def ranking_mismatch(entry: dict[str, Any], records: list[dict[str, Any]]) -> str | None:
    """Why ``ranking: true`` does not match the records (no chosen/rejected pair), or None."""
    if not records or entry.get("ranking") is not True:
        return None
    cols = resolved_columns(entry)
    pair = [cols.get("chosen"), cols.get("rejected")]
    if None in pair:
        return None  # reported by entry_problems
    if all(any(c not in r for c in pair) for r in records):
        keys = sorted({k for r in records for k in r})
        return (f"ranking is true but no record holds the pair {pair[0]!r}/{pair[1]!r} (keys: "
                f"{', '.join(keys[:8])}); drop --ranking for non-pairwise data, or map columns.chosen/rejected")
    return None
