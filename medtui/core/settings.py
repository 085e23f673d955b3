"""User settings (language, theme, last workspace) in ``$XDG_CONFIG_HOME/medtui/config.json``.

The file belongs to the user: it is written atomically, keys medtui does not know are kept,
and a broken file never stops medtui (the defaults apply and :attr:`Settings.error` says why).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medtui.core.atomic import atomic_write_text
from medtui.core.userdirs import config_dir

LANGS = ("en", "zh")
DEFAULT_THEME = "textual-dark"


def config_path() -> Path:
    """The settings file, following the XDG base directory rules."""
    return config_dir() / "config.json"


@dataclass
class Settings:
    lang: str = "en"
    theme: str = DEFAULT_THEME
    last_workspace: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.extra, "lang": self.lang, "theme": self.theme, "last_workspace": self.last_workspace}


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings; a missing file gives the defaults, a broken one the defaults plus ``error``."""
    path = path or config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Settings(error=f"{path}: ignored, cannot be read ({exc})")
    if not isinstance(data, dict):
        return Settings(error=f"{path}: ignored, expected a JSON object")
    settings = Settings(extra={k: v for k, v in data.items() if k not in ("lang", "theme", "last_workspace")})
    if data.get("lang") in LANGS:
        settings.lang = data["lang"]
    if isinstance(data.get("theme"), str) and data["theme"]:
        settings.theme = data["theme"]
    if isinstance(data.get("last_workspace"), str) and data["last_workspace"]:
        settings.last_workspace = data["last_workspace"]
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write the settings atomically (temp file, fsync, rename)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(settings.to_json(), indent=2, ensure_ascii=False) + "\n")
