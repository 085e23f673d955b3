"""Which engine runs the PPO stage: llamafactory's own, or medtui's on TRL's maintained PPOTrainer.

From 0.9.4 on (upstream main included), llamafactory pins its PPO trainer to ``trl>=0.8.6,<=0.9.6``
(a ``require_version`` call in ``llamafactory/train/ppo/trainer.py``) while the rest of it needs
trl>=0.18; 0.9.3 has no such pin and declares ``trl<=0.9.6`` for the whole package. This module
reads the pin from the installed source file (without importing llamafactory), or else the
package's declared trl range, and compares it with the installed trl. Only a requirement that
is found *and* satisfied selects llamafactory; anything else
(no file, no readable requirement, an unsatisfied one) selects medtui's engine. The builder and the
doctor both ask :func:`ppo_support`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

MEDTUI_MODULE = "medtui.engines.ppo_train"
#: PPO arguments only medtui's engine knows; dropped from the YAML when llamafactory runs PPO.
MEDTUI_ONLY_KEYS = ("ppo_kl_coef",)
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
    from medtui.core.env.llamafactory_source import locate

    install = locate()
    if install is None:
        return None
    path = install.package_dir.joinpath(*PPO_TRAINER_FILE)
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
    return decide(trl_requirement(source) or declared_trl_requirement(), trl_version)


def declared_trl_requirement() -> str | None:
    """llamafactory's own trl dependency (``trl<=0.9.6,>=0.8.6`` in 0.9.3), from its metadata.

    A PPO trainer without a pin of its own (0.9.3) runs on whatever trl the package declares.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requires = metadata.requires("llamafactory") or []
    except metadata.PackageNotFoundError:
        return None
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.name.lower() == "trl" and req.specifier and (req.marker is None or req.marker.evaluate({"extra": ""})):
            return f"trl{req.specifier}"
    return None
