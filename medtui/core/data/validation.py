"""Validate a dataset against a training stage (and optionally a model's tokenizer).

The report counts each kind of problem and keeps the first offending record numbers. Record
checks stream the data once; token checks run the tokenizer in a subprocess (tokens.py).
:func:`validate_sample` runs the same record checks on a sample (:mod:`medtui.core.data.sample`):
pre-flight and ``medtui data add`` use it, so they stay fast on files of any size.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from medtui.core.data.columns import formatting, resolved_columns, resolved_tags
from medtui.core.data.files import DataFileError
from medtui.core.data.fit import RANKING_STAGES, fits
from medtui.core.data.lengths import FIRST
from medtui.core.data.reader import DatasetReader
from medtui.core.data.sample import bom_files, read_sample
from medtui.core.data.shape import entry_problems, format_mismatch, ranking_mismatch, record_type_problems
from medtui.core.data.tokens import token_lengths

KIND_TITLES = {
    "entry": ("Registry entry", "注册条目"),
    "encoding": ("Encoding", "文件编码"),
    "unreadable": ("Unreadable file", "文件无法读取"),
    "format": ("Formatting mismatch", "格式(formatting)不匹配"),
    "type": ("Wrong field type", "字段类型错误"),
    "empty": ("No records", "没有记录"),
    "stage": ("Stage mismatch", "阶段不匹配"),
    "ranking": ("Ranking mismatch", "偏好(ranking)不匹配"),
    "missing": ("Missing or empty field", "字段缺失或为空"),
    "messages": ("Malformed messages", "对话消息格式错误"),
    "kto_tag": ("kto_tag is not a boolean", "kto_tag 不是布尔值"),
    "duplicate": ("Duplicate record", "重复记录"),
    "too_long": ("Longer than cutoff_len", "超过 cutoff_len"),
    "packing": ("Packing (pt)", "预训练打包"),
    "tokens": ("Token check", "Token 检查"),
}

TokenRunner = Callable[..., "dict | None"]


@dataclass
class Finding:
    kind: str
    message: str
    level: str = "error"  # error | warn | info
    count: int = 0  # records affected (0: about the whole dataset)
    first: list[int | str] = field(default_factory=list)  # record numbers, or where a sampled record is

    def line(self, lang: str = "en") -> str:
        return f"[{self.level}] {self.text(lang)}"

    def text(self, lang: str = "en") -> str:
        """Title, message and the records affected, without the level."""
        title = KIND_TITLES.get(self.kind, (self.kind, self.kind))[1 if lang == "zh" else 0]
        text = f"{title}: {self.message}"
        if self.count:
            records = "条记录" if lang == "zh" else "record(s)"
            first = "首个位置" if lang == "zh" else "first"
            text += f" — {self.count} {records}, {first}: {', '.join(map(str, self.first))}"
        return text


@dataclass
class Report:
    name: str
    stage: str
    records: int = 0
    findings: list[Finding] = field(default_factory=list)
    tokens: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + (f.count or 1)
        return out

    def lines(self, lang: str = "en") -> list[str]:
        head = (f"{self.name}: {self.records} 条记录, 阶段 {self.stage}" if lang == "zh"
                else f"{self.name}: {self.records} records, stage {self.stage}")
        body = [f.line(lang) for f in self.findings] or (["没有发现问题"] if lang == "zh" else ["no problems found"])
        return [head, *body]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "stage": self.stage, "records": self.records, "ok": self.ok,
                "findings": [f.__dict__ for f in self.findings], "tokens": self.tokens}


class _Tally:
    """Groups record problems by (kind, message), keeping counts and first record numbers."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, str], Finding] = {}

    def add(self, kind: str, message: str, index: int | str, level: str = "error") -> None:
        finding = self.groups.setdefault((kind, message, level), Finding(kind, message, level))
        finding.count += 1
        if len(finding.first) < FIRST:
            finding.first.append(index)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and not value)


def _required(entry: dict[str, Any], stage: str) -> list[str]:
    """Roles a record must fill for ``stage`` (alpaca formatting)."""
    if stage == "pt" or stage == "ppo":
        return ["prompt"]
    if stage in RANKING_STAGES:
        return ["prompt", "chosen", "rejected"]
    return ["prompt", "response"]


def _check_alpaca(entry: dict, stage: str, record: dict, index: int, tally: _Tally) -> None:
    cols = resolved_columns(entry)
    for role in _required(entry, stage):
        column = cols.get(role)
        if column and _empty(record.get(column)):
            tally.add("missing", f"'{column}' ({role})", index)


def _check_messages(entry: dict, stage: str, record: dict, index: int, tally: _Tally) -> None:
    cols, tags = resolved_columns(entry), resolved_tags(entry)
    column = cols.get("messages")
    if not column:
        return
    messages = record.get(column)
    if _empty(messages):
        tally.add("missing", f"'{column}' (messages)", index)
        return
    role_tag, content_tag = tags["role_tag"], tags["content_tag"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        tally.add("messages", f"'{column}' must be a list of objects", index)
        return
    if any(role_tag not in m or content_tag not in m for m in messages):
        tally.add("messages", f"each message needs '{role_tag}' and '{content_tag}'", index)
        return
    if messages and messages[0].get(role_tag) == tags["system_tag"]:
        messages = messages[1:]
    odd, even = (tags["user_tag"], tags["observation_tag"]), (tags["assistant_tag"], tags["function_tag"])
    for turn, message in enumerate(messages):
        if message.get(role_tag) not in (odd if turn % 2 == 0 else even):
            tally.add("messages", f"roles must alternate {tags['user_tag']}/{tags['assistant_tag']} "
                                  f"(message {turn} is {message.get(role_tag)!r})", index)
            return
    ranking = bool(entry.get("ranking"))
    if (len(messages) % 2 == 1) != ranking:  # llamafactory drops such records ("Invalid message count")
        tally.add("messages", "a preference record must end with a user turn" if ranking
                  else "the conversation must end with an assistant turn", index)
    if ranking:
        for role in ("chosen", "rejected"):
            col = cols.get(role)
            value = record.get(col) if col else None
            if col and (not isinstance(value, dict) or _empty(value.get(content_tag))):
                tally.add("missing", f"'{col}' ({role} message)", index)


def check_record(entry: dict, stage: str | None, record: dict, index: int | str, tally: _Tally) -> None:
    """Every per-record rule: field types per column role, required roles, messages, kto_tag."""
    types = record_type_problems(entry, record)
    for message in types:
        tally.add("type", message, index)
    if types:
        return
    if stage is not None:
        (_check_alpaca if formatting(entry) == "alpaca" else _check_messages)(entry, stage, record, index, tally)
    kto_col = resolved_columns(entry).get("kto_tag")
    if kto_col and (stage == "kto" or kto_col in record) and not isinstance(record.get(kto_col), bool):
        tally.add("kto_tag", f"'{kto_col}' must be true or false", index)


def _file_findings(path: str | Path, entry: dict[str, Any], name: str) -> list[Finding]:
    """Entry shape and byte order marks: what stops the trainer before it reads a record."""
    out = [Finding("entry", message, level) for level, message in entry_problems(entry)]
    try:
        boms = bom_files(path)
    except DataFileError:
        return out  # reported when the records are read
    for f in boms:
        out.append(Finding("encoding", f"{f} starts with a UTF-8 byte order mark (BOM), which the trainer's JSON "
                                       f"loader cannot read; remove it with: medtui data fix-bom {name}"))
    return out


def validate_dataset(path: str | Path, entry: dict[str, Any], stage: str, *, name: str = "", model: str | None = None,
                     cutoff_len: int | None = None, packing: bool | None = None,
                     cancel: threading.Event | None = None, progress: Callable[[int], None] | None = None,
                     token_runner: TokenRunner | None = None) -> Report | None:
    """Check every record of the dataset at ``path`` for ``stage``; None when cancelled.

    With ``model``, token lengths are checked against ``cutoff_len`` (callers take its default from
    :mod:`medtui.core.stages.spec`; the data layer does not import the stages layer).
    """
    report = Report(name or Path(path).name, stage)
    reason = fits(stage, entry)
    if reason:
        report.findings.append(Finding("ranking" if "ranking" in reason or "preference" in reason else "stage",
                                       reason))
    report.findings += _file_findings(path, entry, report.name)
    if any(f.kind == "entry" and f.level == "error" for f in report.findings):
        return report
    tally = _Tally()
    seen: set[bytes] = set()
    has_pairs = False
    head: list[dict] = []
    try:
        reader = DatasetReader(path)
        for index, record in enumerate(reader.iter_records()):
            check_record(entry, stage, record, index, tally)
            if index < 8:
                head.append(record)
            digest = hashlib.blake2b(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"),
                                     digest_size=12).digest()
            if digest in seen:
                tally.add("duplicate", "same content as an earlier record", index, level="warn")
            seen.add(digest)
            has_pairs = has_pairs or ("chosen" in record and "rejected" in record)
            report.records = index + 1
            if index % 4096 == 0:
                if cancel is not None and cancel.is_set():
                    return None
                if progress is not None:
                    progress(index)
    except DataFileError as exc:
        report.findings.append(Finding("unreadable", str(exc)))
        return report
    if has_pairs and not entry.get("ranking"):
        report.findings.append(Finding("ranking", "the records hold chosen/rejected pairs but the entry has no "
                                                  "\"ranking\": true", level="warn"))
    report.findings += _record_set_findings(entry, head)
    report.findings.extend(tally.groups.values())
    if report.records == 0:
        report.findings.append(Finding("empty", "the dataset holds no records"))
        return report
    if packing is None:
        packing = stage == "pt"
    if not model:
        report.findings.append(Finding("tokens", "token checks skipped: no model given (--model)", level="info"))
        return report
    if not cutoff_len:
        raise ValueError("validate_dataset needs cutoff_len with a model (the caller takes the spec's default)")
    cutoff = int(cutoff_len)
    runner = token_runner or _run_tokens
    tokens = runner(model, path, entry, cutoff=cutoff, eos=stage == "pt", cancel=cancel)
    if tokens is None:
        return None
    report.tokens = tokens
    over = tokens["over"]
    if over["count"] and not (stage == "pt" and packing):
        report.findings.append(Finding("too_long", f"more than cutoff_len={cutoff} tokens; llamafactory truncates them",
                                       level="warn", count=over["count"], first=over["first"]))
    if stage == "pt" and packing:
        total, blocks = tokens["total"], tokens["total"] // cutoff
        if blocks == 0:
            report.findings.append(Finding("packing", f"{total} tokens in all, fewer than cutoff_len={cutoff}: "
                                                      f"packing makes no block and llamafactory stops with 'Cannot "
                                                      f"find sufficient samples'; lower cutoff_len below {total}"))
        else:
            report.findings.append(Finding("packing", f"{total} tokens make {blocks} packed block(s) of "
                                                      f"{cutoff}; {total - blocks * cutoff} tokens are dropped",
                                           level="info"))
    return report


def _run_tokens(model, path, entry, *, cutoff, eos, cancel):
    return token_lengths(model, path, entry, cutoff=cutoff, eos=eos, cancel=cancel)


def _record_set_findings(entry: dict[str, Any], records: list[dict]) -> list[Finding]:
    out = []
    for kind, reason in (("format", format_mismatch(entry, records)), ("ranking", ranking_mismatch(entry, records))):
        if reason:
            out.append(Finding(kind, reason))
    return out


def validate_sample(path: str | Path, entry: dict[str, Any], stage: str | None, *, name: str = "",
                    fit: bool = True, sample_reader: Callable[..., Any] | None = None) -> tuple[Report, list[dict]]:
    """The record checks of :func:`validate_dataset` on the first and last records and a sample between
    (every record of a small file), plus the entry shape and encoding; with ``stage`` None only what
    the trainer cannot read at all is checked (``medtui data add``). Returns the report and the first
    records read. A rule broken by only some sampled records (an empty field, a malformed
    conversation) is a warning: llamafactory drops such records and trains on the rest."""
    report = Report(name or Path(path).name, stage or "any")
    if fit and stage is not None:
        reason = fits(stage, entry)
        if reason:
            report.findings.append(Finding("ranking" if "ranking" in reason or "preference" in reason else "stage",
                                           reason))
    report.findings += _file_findings(path, entry, report.name)
    if any(f.kind == "entry" and f.level == "error" for f in report.findings):
        return report, []
    try:
        sample = (sample_reader or read_sample)(path)
    except DataFileError as exc:
        report.findings.append(Finding("unreadable", str(exc)))
        return report, []
    records = [r for _, r in sample.records]
    report.records = len(records)
    if not records:
        report.findings.append(Finding("empty", "the dataset holds no records"))
        return report, []
    tally = _Tally()
    for where, record in sample.records:
        check_record(entry, stage, record, where, tally)
    report.findings += _record_set_findings(entry, records[:8])
    for finding in tally.groups.values():
        if finding.kind in ("missing", "messages") and finding.count < len(records):
            finding.level = "warn"
        elif finding.kind == "missing":
            keys = list(dict.fromkeys(k for r in records[:8] for k in r))
            finding.message += f" in every record; the records have keys: {', '.join(keys[:8]) or 'none'}"
            finding.count, finding.first = 0, []
        if not sample.complete:
            finding.message += f" (in a sample of {len(records)} records)"
        report.findings.append(finding)
    return report, records
