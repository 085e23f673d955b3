"""Which engine runs the PPO stage: llamafactory's own, or medtui's on TRL's maintained PPOTrainer.

From 0.9.4 on (upstream main included), llamafactory pins its PPO trainer to ``trl>=0.8.6,<=0.9.6``
(a ``require_version`` call in ``llamafactory/train/ppo/trainer.py``) while the rest of it needs
trl>=0.18; 0.9.3 has no such pin and declares ``trl<=0.9.6`` for the whole package.
:func:`medtui.core.env.llamafactory_compat.ppo_trl_requirement` reads that requirement from the
installed package without importing it; this module compares it with the installed trl. Only a
requirement that is found *and* satisfied selects llamafactory; anything else (no trainer file, no
readable requirement, an unsatisfied one) selects medtui's engine. The builder and pre-flight ask
:func:`ppo_support`; the doctor's PPO check reads the same requirement.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata

from medtui.core.env.llamafactory_compat import ppo_trl_requirement
from medtui.core.stages.spec import MEDTUI_OWN_ARGS

MEDTUI_MODULE = "medtui.engines.ppo_train"
#: PPO arguments only medtui's engine knows (spec.MEDTUI_OWN_ARGS); dropped from the YAML when llamafactory runs PPO.
MEDTUI_ONLY_KEYS = tuple(MEDTUI_OWN_ARGS)


@dataclass(frozen=True)
class PPOSupport:
    engine: str  # "medtui" | "llamafactory"
    requirement: str | None  # llamafactory's trl pin for PPO, e.g. "trl>=0.8.6,<=0.9.6"
    trl_version: str | None
    reason: str
    reason_zh: str

    @property
    def uses_llamafactory(self) -> bool:
        return self.engine == "llamafactory"

    def argv(self, yaml_path: str, llamafactory_cli: str) -> list[str]:
        """The command that runs a PPO YAML with this engine."""
        if self.uses_llamafactory:
            return [llamafactory_cli, "train", yaml_path]
        return [sys.executable, "-m", MEDTUI_MODULE, yaml_path]

    def message(self, lang: str = "en") -> str:
        """One line for the doctor: which PPO path runs, and why."""
        if self.uses_llamafactory:
            if lang == "zh":
                return f"PPO 使用 llamafactory 自带的训练器({self.reason_zh})。"
            return f"PPO runs on llamafactory's own trainer ({self.reason})."
        if lang == "zh":
            return f"PPO 使用 medtui 基于 TRL PPOTrainer 的训练入口 python -m {MEDTUI_MODULE}({self.reason_zh})。"
        return f"PPO runs on medtui's engine on TRL's PPOTrainer, python -m {MEDTUI_MODULE} ({self.reason})."


def decide(requirement: str | None, trl_version: str | None, *, found: bool = True) -> PPOSupport:
    """Pick the engine from llamafactory's pin and the installed trl version."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    if not found:
        return PPOSupport("medtui", None, trl_version, "llamafactory's PPO trainer was not found",
                          "未找到 llamafactory 的 PPO 训练器")
    if trl_version is None:
        return PPOSupport("medtui", requirement, None, "trl is not installed", "未安装 trl")
    if requirement is None:
        return PPOSupport("medtui", None, trl_version, "llamafactory's PPO trainer names no trl version it supports",
                          "llamafactory 的 PPO 训练器未声明支持的 trl 版本")
    try:
        ok = Requirement(requirement).specifier.contains(Version(trl_version), prereleases=True)
    except (InvalidRequirement, InvalidVersion):
        return PPOSupport("medtui", requirement, trl_version, f"llamafactory's pin {requirement!r} is unreadable",
                          f"无法解析 llamafactory 的版本要求 {requirement!r}")
    if ok:
        return PPOSupport("llamafactory", requirement, trl_version, f"trl {trl_version} satisfies {requirement}",
                          f"已安装的 trl {trl_version} 满足 {requirement}")
    return PPOSupport("medtui", requirement, trl_version,
                      f"llamafactory's PPO requires {requirement} but trl {trl_version} is installed",
                      f"llamafactory 的 PPO 要求 {requirement},而已安装的是 trl {trl_version}")


@lru_cache(maxsize=1)
def ppo_support() -> PPOSupport:
    """The PPO engine for this environment (read once per process)."""
    try:
        trl_version: str | None = metadata.version("trl")
    except metadata.PackageNotFoundError:
        trl_version = None
    found = ppo_trl_requirement()
    if found.trainer is None:
        return decide(None, trl_version, found=False)
    return decide(found.requirement, trl_version)
