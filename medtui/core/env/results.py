"""One doctor check's result, and the checks' titles: the leaf that :mod:`doctor` and
:mod:`checks` share."""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("ok", "warn", "fail")
#: Every check, in display order: id -> (English title, Chinese title).
TITLES: dict[str, tuple[str, str]] = {
    "python": ("Python", "Python"),
    "llamafactory": ("LLaMA-Factory", "LLaMA-Factory"),
    "torch": ("PyTorch", "PyTorch"),
    "cuda": ("CUDA available", "CUDA 可用"),
    "gpus": ("GPUs (NVML)", "GPU(NVML)"),
    "bf16": ("bf16 support", "bf16 支持"),
    "transformers": ("transformers version", "transformers 版本"),
    "peft": ("peft version", "peft 版本"),
    "trl": ("trl version", "trl 版本"),
    "datasets": ("datasets version", "datasets 版本"),
    "accelerate": ("accelerate version", "accelerate 版本"),
    "keras": ("Keras 3 clash", "Keras 3 冲突"),
    "ppo": ("PPO readiness", "PPO 就绪"),
    "disk": ("Free disk", "磁盘空间"),
    "workspace": ("Workspace writable", "工作区可写"),
}


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: str
    detail: str
    fix: str = ""
    #: Fix actions a UI may offer: "use-tf" (toggle USE_TF=0), "tf-keras" (pip install).
    actions: tuple[str, ...] = ()
    #: When the answer was found, if it was reused from an earlier check (epoch seconds); None when fresh.
    checked_at: float | None = None

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "status": self.status, "detail": self.detail, "fix": self.fix}


def title(check_id: str, lang: str = "en") -> str:
    en, zh = TITLES.get(check_id, (check_id, check_id))
    return zh if lang == "zh" else en


def result(check_id: str, status: str, detail: str, fix: str = "", actions: tuple[str, ...] = ()) -> CheckResult:
    assert status in STATUSES, status
    return CheckResult(check_id, title(check_id), status, detail, fix, tuple(actions))
