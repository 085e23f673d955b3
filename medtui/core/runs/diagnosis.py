"""Why a run ended badly: one table of rules over its logs, and the last meaningful error otherwise.

The supervisor calls :func:`diagnose_run` when a run ends (:mod:`medtui.core.runs.supervisor`) and
records the result as ``diagnosis`` in ``run.json``: a cause id, a one-line reason, a fix and the
log lines that show it. The causes are the ones LLaMA-Factory's users report again and again.

Order matters: the first rule (in :data:`RULES` order) whose pattern matches a line of stderr or
stdout wins, so specific causes come before general ones. A run killed by a signal with no telling
line is a signal death, and "likely the kernel OOM killer" when the kernel log or the memory cgroup
says so (:mod:`medtui.core.runs.oomkill`). A run that finished while its loss was NaN (the live
alerts saw it) is diagnosed too. Anything else quotes the last meaningful error line of the log,
never a progress bar.
"""

from __future__ import annotations

import os
import re
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TAIL_BYTES = 256 * 1024
MAX_EVIDENCE = 3
MAX_LINE = 300


@dataclass(frozen=True)
class Rule:
    """``pattern`` (a regex over one log line) means ``cause``; ``reason`` may use the match's groups."""

    cause: str
    pattern: str
    reason: str
    fix: str


RULES: tuple[Rule, ...] = (
    Rule("cuda_oom", r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|HIP out of memory",
         "the GPU ran out of memory (CUDA out of memory)",
         "lower per_device_train_batch_size (raise gradient_accumulation_steps to keep the batch), lower "
         "cutoff_len, use LoRA or quantization_bit 4, or a DeepSpeed ZeRO stage; several GPUs under plain DDP "
         "each hold the whole model"),
    Rule("disk_full", r"No space left on device|\[Errno 28\]|ENOSPC|StorageFull|Disk quota exceeded|"
                      r"PytorchStreamWriter failed writing|inline_container\.cc.*unexpected pos|"
                      r"basic_ios::clear: iostream error",
         "the disk filled up while writing (No space left on device; torch.save reports it as 'file write "
         "failed' or 'unexpected pos')",
         "free space on the output volume, raise save_steps, set save_total_limit or save_only_model, or "
         "choose an output_dir on a larger volume"),
    Rule("nccl_timeout", r"Watchdog caught collective operation timeout|NCCL.*[Tt]imeout|ProcessGroupNCCL.*timed out",
         "a multi-GPU collective operation timed out (NCCL watchdog)",
         "raise ddp_timeout (long tokenisation on rank 0 blocks the others), tokenise once with tokenized_path, "
         "and on consumer GPUs (RTX 30/40 series) set NCCL_P2P_DISABLE=1 NCCL_IB_DISABLE=1"),
    Rule("nccl_error", r"NCCL error|ncclSystemError|ncclUnhandledCudaError|ncclInternalError|DistBackendError|"
                       r"NCCL WARN|P2P access is not supported|peer access is not supported",
         "NCCL (multi-GPU communication) failed",
         "on consumer GPUs (RTX 30/40 series) set NCCL_P2P_DISABLE=1 NCCL_IB_DISABLE=1; give /dev/shm enough "
         "room (docker --shm-size); rerun with NCCL_DEBUG=INFO for details"),
    Rule("insufficient_samples", r"Cannot find sufficient samples",
         "packing made no full block: the dataset has fewer tokens than cutoff_len (Cannot find sufficient samples)",
         "lower cutoff_len below the dataset's token count, add data, or set packing false"),
    Rule("no_valid_samples", r"Cannot find valid samples",
         "every example was dropped while preprocessing (Cannot find valid samples)",
         "check the dataset against its stage: medtui data validate NAME --stage STAGE (columns, roles, "
         "kto_tag booleans)"),
    Rule("template", r"Template (\S+) does not exist",
         "llamafactory has no template {0}",
         "choose a template the installed llamafactory registers (the model's own family, e.g. qwen, llama3)"),
    Rule("template", r"check whether the correct `template` is used|Current template does not support|"
                     r"Processor was not found|requires 3D position ids|Stop words are required",
         "the chat template does not match the model or the data",
         "use the template of the model's family (medtui model check suggests one); multimodal data needs a "
         "multimodal template and model"),
    Rule("version_pin", r"(\S+) is required for a normal functioning of this module(?:, but found (\S+?)\.?$)?",
         "llamafactory needs {0} but found {1}",
         "install the required version (pip install '{0}'), or set DISABLE_VERSION_CHECK=1 in the run "
         "environment (medtui doctor) to try anyway"),
    Rule("version_pin", r"The '(\S+)' distribution was not found and is required",
         "llamafactory needs {0}, which is not installed",
         "pip install '{0}' (or set DISABLE_VERSION_CHECK=1 when the version is the only problem)"),
    Rule("keras3", r"Keras 3|tf-keras|tf_keras",
         "TensorFlow's Keras 3 clashes with transformers",
         "pip install tf-keras, or set USE_TF=0 in the run environment (medtui doctor offers both)"),
    Rule("dataset_unreadable", r"DatasetGenerationError|Failed to load JSON from file|JSON parse error",
         "the trainer could not read a data file (encoding, byte order mark or broken JSON)",
         "medtui data validate NAME --stage STAGE names the line; medtui data fix-bom NAME removes a BOM"),
    Rule("unknown_argument", r"Some specified arguments are not used by the HfArgumentParser: (.*)",
         "llamafactory does not know the argument(s) {0}",
         "remove or rename them (medtui train --dry-run suggests the nearest names), or set ALLOW_EXTRA_ARGS=1"),
    Rule("undefined_dataset", r"Undefined dataset (\S+) in",
         "dataset {0} is not registered in dataset_info.json",
         "register it with medtui data add, or fix the dataset name"),
    Rule("host_oom", r"DefaultCPUAllocator: can't allocate memory|std::bad_alloc|MemoryError",
         "the machine ran out of RAM",
         "lower preprocessing_num_workers and per_device_train_batch_size, or add RAM or swap"),
    Rule("signal", r"Received (?:Signals\.)?(SIG\w+) death signal",
         "the launcher (torchrun) received {0} and shut the workers down",
         "SIGHUP means the terminal closed (medtui runs survive it; plain nohup multi-GPU runs do not); "
         "SIGTERM/SIGINT mean someone stopped it"),
    Rule("signal", r"Signal (\d+) \((SIG\w+)\) received by PID",
         "a worker process was killed by {1} (signal {0})",
         "SIGKILL is usually the kernel OOM killer (check dmesg): lower memory use; SIGHUP means the terminal "
         "closed (medtui runs survive it; plain nohup multi-GPU runs do not)"),
)

_COMPILED = [(rule, re.compile(rule.pattern)) for rule in RULES]
#: a tqdm bar ("  2%|▏   | 13/620 [01:07<50:20,  4.98s/it]"); other text may follow it on the same line
_BAR = re.compile(r"\s*\d+%\|[^|]*\|\s*[\d.]+[kMG]?/[\d.?]+[kMG]?\s*(?:\[[^\]]*\])?|\s*\d+%\|\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_RANK = re.compile(r"^\[rank\d+\]:\s*")
_ERROR_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?(?:[\w.]+\.)?\w*(?:Error|Exception|Exit|Interrupt|Failure)\b:?")
_NOISE = re.compile(r"^(?:File \"|Traceback \(most recent call last\)|\^+$|~+$|During handling|The above exception|"
                    r"\[(?:rank\d+)\]:\s*(?:File \"|Traceback|\^))")


@dataclass
class Diagnosis:
    cause: str
    reason: str
    fix: str
    evidence: list[str] = field(default_factory=list)
    signal: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, [])}

    @classmethod
    def from_dict(cls, data: Any) -> "Diagnosis | None":
        if not isinstance(data, dict) or not isinstance(data.get("cause"), str):
            return None
        return cls(cause=data["cause"], reason=str(data.get("reason") or ""), fix=str(data.get("fix") or ""),
                   evidence=[str(x) for x in data.get("evidence") or []], signal=data.get("signal"))

    def line(self) -> str:
        return f"{self.cause}: {self.reason}"


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def meaningful_lines(text: str) -> list[str]:
    """Log lines a person would read: no progress bars, no blank lines, no source lines quoted by a
    traceback (the line after ``File "...", line N``); ``\\r`` redraws collapsed."""
    out = []
    after_file = False
    for raw in text.splitlines():
        for part in reversed(raw.split("\r")):  # the last non-progress segment of a redrawn line
            line = _BAR.sub(" ", _ANSI.sub("", part)).strip()
            if line:
                body = _RANK.sub("", line)
                if after_file and not body.startswith("File \"") and not _ERROR_LINE.match(line):
                    after_file = False
                    break  # the source line a traceback quotes
                after_file = body.startswith("File \"")
                out.append(line)
                break
    return out


def last_error(lines: list[str]) -> str:
    """The last ``SomethingError: ...`` line, else the last line that mentions an error, else the last line."""
    for line in reversed(lines):
        if _ERROR_LINE.match(line):
            return line
    for line in reversed(lines):
        if "error" in line.lower() and not _NOISE.match(line):
            return line
    rest = [ln for ln in lines if not _NOISE.match(ln)]
    return rest[-1] if rest else ""


def signal_name(code: int | None) -> str | None:
    """``SIGKILL`` for a Popen return code of -9; None when the process exited normally."""
    if code is None or code >= 0:
        return None
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def diagnose(text: str, *, exit_code: int | None, oom_evidence: list[str] | None = None,
             alerts: list[dict] | None = None) -> Diagnosis | None:
    """The diagnosis of a run from its log ``text`` (stderr, then stdout), its exit code, what the kernel
    said about OOM kills, and its live alerts; None for a run that ended well."""
    lines = meaningful_lines(text)
    nan = next((a for a in alerts or [] if a.get("kind") == "nan_loss"), None)
    sig = signal_name(exit_code)
    if exit_code == 0:
        return _nan(nan) if nan is not None else None
    for scope in (_final_error(lines), lines):  # what the run died of first, then anything it said
        found = _match(scope, sig)
        if found is not None:
            if found.cause == "signal" and oom_evidence and "SIGKILL" in found.reason:
                return _oom("SIGKILL", oom_evidence, found.evidence)
            return found
    low = next((a for a in alerts or [] if a.get("kind") == "disk_low" and not a.get("resolved")), None)
    if low is not None:
        rule = next(r for r in RULES if r.cause == "disk_full")
        return Diagnosis("disk_full", "the run failed while free disk was below the next checkpoint's size: the "
                                      "disk is likely full", rule.fix,
                         [_clip(str(low.get("message", ""))), *[_clip(ln) for ln in lines[-1:]]], sig)
    if sig is not None:
        if oom_evidence and sig == "SIGKILL":
            return _oom(sig, oom_evidence, lines[-1:])
        fix = ("SIGKILL with no kernel OOM record: something killed it (another user, a job scheduler's limit); "
               "check dmesg and the scheduler's logs" if sig == "SIGKILL" else
               "SIGSEGV/SIGBUS point at a native crash (driver, CUDA, a bad wheel); SIGTERM/SIGHUP at whoever "
               "stopped it; rerun to see whether it repeats")
        return Diagnosis("signal", f"the trainer was killed by {sig} (signal {-int(exit_code or 0)})", fix,
                         [_clip(ln) for ln in lines[-2:]], sig)
    if nan is not None:
        return _nan(nan)
    error = last_error(lines)
    reason = error or (f"exit code {exit_code}" if exit_code is not None else "the run ended without an exit code")
    return Diagnosis("unknown", _clip(reason), "read the end of stderr: medtui logs RUN --stderr",
                     [_clip(error)] if error else [], sig)


def _nan(alert: dict) -> Diagnosis:
    return Diagnosis("nan_loss", f"the loss became NaN at step {alert.get('step', '?')}: the weights are no longer "
                                 f"usable", "lower learning_rate, keep max_grad_norm (gradient clipping) above 0, use "
                                 "bf16 instead of fp16, and check the data for empty or huge examples",
                     [str(alert.get("message", ""))])


def _final_error(lines: list[str]) -> list[str]:
    """The lines from the last traceback on (or the last 40): where the error that ended the run is."""
    start = max((i for i, ln in enumerate(lines) if "Traceback (most recent call last)" in ln), default=-1)
    return lines[start:] if start >= 0 else lines[-40:]


def _match(lines: list[str], sig: str | None) -> Diagnosis | None:
    for rule, pattern in _COMPILED:
        hits = [(ln, m) for ln in lines if (m := pattern.search(ln))]
        if hits:
            groups = tuple("another version" if g is None else g for g in hits[-1][1].groups())
            return Diagnosis(rule.cause, rule.reason.format(*groups), rule.fix.format(*groups),
                             [_clip(ln) for ln, _ in _dedupe(hits)[-MAX_EVIDENCE:]], sig)
    return None


def _oom(sig: str, evidence: list[str], lines: list[str]) -> Diagnosis:
    return Diagnosis("oom_killer", f"the trainer was killed by {sig}: likely the kernel OOM killer (the machine "
                                   f"or its memory cgroup ran out of RAM)",
                     "lower memory use: per_device_train_batch_size, cutoff_len, preprocessing_num_workers; "
                     "use LoRA or quantization; add RAM or swap, or raise the job's memory limit",
                     [_clip(x) for x in (evidence + lines)][:MAX_EVIDENCE], sig)


def _dedupe(hits: list) -> list:
    seen, out = set(), []
    for line, match in hits:
        key = re.sub(r"\d+", "#", line)[:120]
        if key not in seen:
            seen.add(key)
            out.append((line, match))
    return out


def read_tail(path: Path, max_bytes: int = TAIL_BYTES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def diagnose_run(run_dir: Path, record: dict[str, Any], exit_code: int | None,
                 oom_evidence: list[str] | None = None) -> dict[str, Any] | None:
    """:func:`diagnose` for a run folder, as the ``diagnosis`` value for ``run.json`` (None: nothing to say)."""
    text = read_tail(run_dir / "stderr.log") + "\n" + read_tail(run_dir / "stdout.log")
    if record.get("error"):
        text += "\n" + str(record["error"])
    found = diagnose(text, exit_code=exit_code, oom_evidence=oom_evidence, alerts=record.get("alerts"))
    return found.as_dict() if found else None
