"""Which engine runs the PPO stage: llamafactory's own, or medtui's on TRL's maintained PPOTrainer.

llamafactory 0.9.5 pins its PPO trainer to ``trl>=0.8.6,<=0.9.6`` (a ``require_version`` call in
``llamafactory/train/ppo/trainer.py``), while the rest of it needs a newer trl. This module reads
that pin from the installed source file, without importing llamafactory, and compares it with
the installed trl. Only a pin that is found *and* satisfied selects llamafactory; anything else
(no file, no readable pin, an unsatisfied pin) selects medtui's engine. The builder and the
doctor both ask :func:`ppo_support`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, util
from pathlib import Path

from medtui.core.stages.spec import MEDTUI_OWN_ARGS

MEDTUI_MODULE = "medtui.engines.ppo_train"
#: PPO arguments only medtui's engine knows (spec.MEDTUI_OWN_ARGS); dropped from the YAML when llamafactory runs PPO.
MEDTUI_ONLY_KEYS = tuple(MEDTUI_OWN_ARGS)
PPO_TRAINER_FILE = ("train", "ppo", "trainer.py")
_PIN = re.compile(r"""require_version\(\s*["'](trl\s*[<>=!~][^"']*)["']""")


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


def llamafactory_ppo_file() -> Path | None:
    """llamafactory's PPO trainer source, located without importing llamafactory."""
    try:
        spec = util.find_spec("llamafactory")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*PPO_TRAINER_FILE)
    return path if path.is_file() else None


def trl_requirement(source: str) -> str | None:
    """The ``trl...`` specifier of the first ``require_version("trl...")`` call in ``source``."""
    match = _PIN.search(source)
    return re.sub(r"\s+", "", match.group(1)) if match else None


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
    path = llamafactory_ppo_file()
    if path is None:
        return decide(None, trl_version, found=False)
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return decide(None, trl_version, found=False)
    return decide(trl_requirement(source), trl_version)
