"""A record as the model sees it: chat template applied, trained vs masked tokens, cutoff marked.

:func:`render_record` runs ``python -m medtui.workers.render`` once (it loads the model's tokenizer and
llamafactory's template and processor; the UI process stays light) and returns a :class:`Rendered`;
a :class:`RenderSession` keeps one worker for many records (the Datasets screen's Render tab).
:func:`format_text` lays it out for a terminal: each part with its token counts, the trained
text in one style and the masked text in another, special tokens shown as they are, and a
``✂`` where ``cutoff_len`` cuts; pairwise data gets chosen and rejected side by side.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medtui.core.env.child import child_env, run_worker
from medtui.core.errors import MedtuiError

CUT_MARK = "✂"
STAGES = ("pt", "sft", "rm", "dpo", "kto", "ppo")


@dataclass
class Rendered:
    """The worker's answer (see :mod:`medtui.workers.render`)."""

    data: dict[str, Any]
    sequences: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Rendered":
        return cls(data, list(data.get("sequences") or []), list(data.get("warnings") or []))

    @property
    def pairwise(self) -> bool:
        return len(self.sequences) == 2

    def trained_mask(self, sequence: int = 0) -> list[bool]:
        """One flag per kept token: does it count in the loss?"""
        return [label != -100 for label in self.sequences[sequence]["labels"]]


def render_request(*, dataset: str, dataset_dir: str | Path, model: str, template: str = "default",
                   index: int = 0, cutoff_len: int = 2048, stage: str = "sft", train_on_prompt: bool = False,
                   mask_history: bool = False, enable_thinking: bool = True) -> dict[str, Any]:
    if stage not in STAGES:
        raise MedtuiError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    if index < 0:
        raise MedtuiError("--index must be 0 or more")
    if cutoff_len < 1:
        raise MedtuiError("--cutoff-len must be at least 1")
    if train_on_prompt and mask_history:
        raise MedtuiError("mask_history and train_on_prompt cannot both be on")
    return {"dataset": dataset, "dataset_dir": str(dataset_dir), "model": str(model), "template": template,
            "index": index, "cutoff_len": cutoff_len, "stage": "sft" if stage == "ppo" else stage,
            "train_on_prompt": train_on_prompt, "mask_history": mask_history, "enable_thinking": enable_thinking}


def render_record(request: dict[str, Any], *, cancel: threading.Event | None = None,
                  timeout: float = 300) -> Rendered | None:
    """Run the worker; None when cancelled. Raises MedtuiError with the worker's one-line reason."""
    argv = [sys.executable, "-m", "medtui.workers.render", json.dumps(request, ensure_ascii=False)]
    done = run_worker(argv, what="rendering", cancel=cancel, timeout=timeout)
    if done is None:
        return None
    code, out, err = done
    lines = (out or "").strip().splitlines()
    try:
        data = json.loads(lines[-1]) if lines else {}
    except ValueError:
        data = {}
    if data.get("error"):
        raise MedtuiError(str(data["error"]))
    if code != 0 or not data:
        tail = err.strip().splitlines()
        raise MedtuiError(tail[-1] if tail else f"render failed (exit {code})")
    return Rendered.from_json(data)


class RenderSession:
    """One long-lived render worker (``--serve``): the first record pays the imports, later ones do not."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, "-m", "medtui.workers.render", "--serve"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, encoding="utf-8", bufsize=1, env=child_env(run_env=True))
        return self.proc

    def render(self, request: dict[str, Any], *, cancel: threading.Event | None = None,
               timeout: float = 300) -> Rendered | None:
        """Render one record; None when cancelled (the worker is then stopped). Raises MedtuiError."""
        import queue

        with self._lock:
            proc = self._start()
            answer: queue.Queue = queue.Queue()
            try:
                proc.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self.close()
                raise MedtuiError("the render worker stopped; try again") from None
            threading.Thread(target=lambda: answer.put(proc.stdout.readline()), daemon=True).start()
            deadline = time.monotonic() + timeout
            while True:
                try:
                    line = answer.get(timeout=0.2)
                    break
                except queue.Empty:
                    if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                        self.close()
                        if cancel is not None and cancel.is_set():
                            return None
                        raise MedtuiError(f"rendering took longer than {timeout:.0f} s") from None
            if not line:
                err = self._stderr_tail()
                self.close()
                raise MedtuiError(err or "the render worker stopped")
            try:
                data = json.loads(line)
            except ValueError:
                self.close()
                raise MedtuiError(f"the render worker said something unexpected: {line[:200]!r}") from None
            if data.get("error"):
                raise MedtuiError(str(data["error"]))
            return Rendered.from_json(data)

    def _stderr_tail(self) -> str:
        if self.proc is None or self.proc.poll() is None:
            return ""
        try:
            lines = (self.proc.stderr.read() or "").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return lines[-1] if lines else ""

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        try:
            proc.communicate(timeout=5)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            pass


def visible(text: str) -> str:
    """Text with its line breaks and tabs shown, so the template's whitespace is visible."""
    return text.replace("\t", "→\t").replace("\n", "↵\n")


def part_label(part: dict[str, Any]) -> str:
    role = part["role"]
    head = f"turn {part['turn']} · {role}" if role in ("prompt", "response") else role
    cut = part["tokens"] - part["kept"]
    counts = f"{part['tokens']} tok" + (f", {cut} cut" if cut else "") + f", {part['trained']} trained"
    return f"{head} · {counts}"


def summary(rendered: Rendered) -> str:
    d = rendered.data
    seqs = ", ".join(f"{s['name']} {s['kept_tokens']}/{s['total_tokens']} tok" for s in rendered.sequences)
    flags = [k for k in ("train_on_prompt", "mask_history") if d.get(k)]
    return (f"{d['dataset']} #{d['index']} · template {d['template']} · stage {d['stage']} · cutoff {d['cutoff_len']}"
            f" · {seqs}" + (f" · {', '.join(flags)}" if flags else ""))


def _styled(run: dict[str, Any], color: bool) -> str:
    text = visible(run["text"])
    if not color:
        if run["cut"]:
            return f"{CUT_MARK}[{text}]"
        return text if run["trained"] else f"⟦{text}⟧"
    if run["cut"]:
        return f"\x1b[9;31m{text}\x1b[0m"
    return f"\x1b[1;32m{text}\x1b[0m" if run["trained"] else f"\x1b[2m{text}\x1b[0m"


def _sequence_lines(seq: dict[str, Any], color: bool) -> list[str]:
    lines: list[str] = []
    for index, part in enumerate(seq["parts"]):
        lines.append(f"── {part_label(part)} ──")
        body = ""
        cut_shown = False
        for run in (r for r in seq["runs"] if r["part"] == index):
            if run["cut"] and not cut_shown and color:
                body += f" {CUT_MARK} "
                cut_shown = True
            body += _styled(run, color)
        lines += body.split("\n") if body else [""]
    if not seq.get("aligned", True):
        lines.append("(the parts could not be matched to llamafactory's encoding; shown as one sequence)")
    return lines


def cells(text: str) -> int:
    """Terminal columns ``text`` takes (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 0 if unicodedata.combining(c) else 1
               for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cells(text))


def _wrap(line: str, width: int) -> list[str]:
    """``line`` cut into pieces of at most ``width`` columns."""
    out, current, used = [], "", 0
    for ch in line:
        w = cells(ch)
        if used + w > width and current:
            out.append(current)
            current, used = "", 0
        current += ch
        used += w
    out.append(current)
    return out


def format_text(rendered: Rendered, *, color: bool = False, width: int = 100) -> str:
    """The rendering for a terminal; without color, masked text is in ⟦ ⟧ and cut text in ✂[ ]."""
    out = [summary(rendered)]
    legend = ("trained tokens bold green, masked dim, cut red struck through" if color else
              "trained tokens plain, masked tokens ⟦in brackets⟧, cut tokens ✂[after the scissors]")
    out.append(f"({legend}; ↵ is a line break)")
    for warning in rendered.warnings:
        out.append(f"warning: {warning}")
    if rendered.pairwise and width >= 80 and not color:
        left, right = (_sequence_lines(s, False) for s in rendered.sequences)
        half = (width - 3) // 2
        out.append(_pad("CHOSEN", half) + " │ REJECTED")
        left_wrapped = [w for line in left for w in _wrap(line, half)]
        right_wrapped = [w for line in right for w in _wrap(line, half)]
        for i in range(max(len(left_wrapped), len(right_wrapped))):
            a = left_wrapped[i] if i < len(left_wrapped) else ""
            b = right_wrapped[i] if i < len(right_wrapped) else ""
            out.append(_pad(a, half) + " │ " + b)
        return "\n".join(out)
    for seq in rendered.sequences:
        if len(rendered.sequences) > 1:
            out.append(f"== {seq['name']} ==")
        out += _sequence_lines(seq, color)
    return "\n".join(out)
