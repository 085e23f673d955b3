"""A conversation's history and how it is saved (Markdown for people, JSONL for tools).

Each pane of the chat screen keeps one :class:`Transcript`. ``messages()`` is what the model
sees: user and assistant turns in order (a stopped reply keeps the text it had). Errors are
kept in the transcript for the record but never sent to the model.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medtui.core.atomic import atomic_write_text


@dataclass
class Turn:
    role: str  # user | assistant | error
    content: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Transcript:
    model: str = ""
    system: str | None = None
    turns: list[Turn] = field(default_factory=list)

    def add_user(self, text: str) -> Turn:
        turn = Turn("user", text)
        self.turns.append(turn)
        return turn

    def add_assistant(self, text: str, **meta: Any) -> Turn:
        turn = Turn("assistant", text, {k: v for k, v in meta.items() if v is not None})
        self.turns.append(turn)
        return turn

    def add_error(self, text: str, kind: str = "") -> Turn:
        turn = Turn("error", text, {"kind": kind} if kind else {})
        self.turns.append(turn)
        return turn

    def clear(self) -> None:
        self.turns.clear()

    def messages(self) -> list[dict[str, str]]:
        """Alternating user/assistant messages for the model; a user turn left unanswered is dropped."""
        out: list[dict[str, str]] = []
        for turn in self.turns:
            if turn.role == "user":
                if out and out[-1]["role"] == "user":
                    out.pop()  # its reply failed; the new question replaces it
                out.append({"role": "user", "content": turn.content})
            elif turn.role == "assistant" and out and out[-1]["role"] == "user":
                out.append({"role": "assistant", "content": turn.content})
        return out

    def records(self) -> list[dict[str, Any]]:
        return [{"model": self.model, "role": t.role, "content": t.content, **t.meta} for t in self.turns]


def to_markdown(transcripts: list[Transcript], title: str = "Chat transcript") -> str:
    parts = [f"# {title}", ""]
    for tr in transcripts:
        if len(transcripts) > 1 or tr.model:
            parts += [f"## {tr.model or 'Model'}", ""]
        if tr.system:
            parts += [f"**System:** {tr.system}", ""]
        for turn in tr.turns:
            who = {"user": "You", "assistant": "Assistant", "error": "Error"}.get(turn.role, turn.role)
            note = " (stopped)" if turn.meta.get("stopped") else ""
            parts += [f"**{who}{note}:**", "", turn.content, ""]
    return "\n".join(parts).rstrip() + "\n"


def to_jsonl(transcripts: list[Transcript]) -> str:
    lines = []
    for tr in transcripts:
        for record in tr.records():
            if tr.system:
                record.setdefault("system", tr.system)
            lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines) + ("\n" if lines else "")


def save(transcripts: list[Transcript], folder: Path, stem: str | None = None) -> tuple[Path, Path]:
    """Write ``STEM.md`` and ``STEM.jsonl`` atomically into ``folder``; returns both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = stem or time.strftime("chat-%Y%m%d-%H%M%S")
    md, jsonl = folder / f"{stem}.md", folder / f"{stem}.jsonl"
    atomic_write_text(md, to_markdown(transcripts))
    atomic_write_text(jsonl, to_jsonl(transcripts))
    return md, jsonl
