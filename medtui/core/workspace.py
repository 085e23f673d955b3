"""A workspace: a folder laid out like a LLaMA-Factory checkout.

``data/dataset_info.json`` and the data files, ``models/`` for base models, ``saves/`` for
training outputs. medtui keeps its own run records under ``.medtui/runs/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from medtui.core.data.registry import REGISTRY_NAME, DatasetRegistry
from medtui.core.errors import MedtuiError


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def open(cls, root: str | os.PathLike | None = None) -> "Workspace":
        if root is None:
            try:
                root = os.getcwd()
            except OSError:
                raise MedtuiError("the current folder no longer exists; cd into a workspace or pass "
                                  "--workspace DIR") from None
        if "\x00" in str(root):
            raise MedtuiError("a workspace path cannot contain a NUL byte")
        return cls(Path(root).expanduser().resolve())

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def saves_dir(self) -> Path:
        return self.root / "saves"

    @property
    def state_dir(self) -> Path:
        return self.root / ".medtui"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def registry_path(self) -> Path:
        return self.data_dir / REGISTRY_NAME

    def registry(self, dataset_dir: str | os.PathLike | None = None) -> DatasetRegistry:
        folder = self.resolve(dataset_dir) if dataset_dir else self.data_dir
        return DatasetRegistry(folder / REGISTRY_NAME)

    def resolve(self, path: str | os.PathLike) -> Path:
        """Resolve a user path: absolute stays, ``~`` expands, relative is against the root."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.root / p

    def relative(self, path: str | os.PathLike) -> str:
        """Show ``path`` relative to the workspace when it is inside it (a symlink inside counts as inside)."""
        p = Path(path)
        for candidate in (Path(os.path.abspath(p)), p.resolve()):
            try:
                return str(candidate.relative_to(self.root))
            except ValueError:
                continue
        return str(p)

    def ensure_layout(self) -> None:
        for folder in (self.data_dir, self.models_dir, self.saves_dir, self.runs_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def model_dirs(self) -> list[Path]:
        """Folders under ``models/`` and ``saves/`` that hold a config.json or an adapter.

        Symlinked folders are followed (a model kept on another disk and linked in is listed under
        its link's name); a link that loops back is visited once.
        """
        found: list[Path] = []
        for base in (self.models_dir, self.saves_dir):
            if not base.is_dir():
                continue
            seen: set[str] = set()
            for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
                real = os.path.realpath(dirpath)
                if real in seen:
                    dirnames[:] = []
                    continue
                seen.add(real)
                folder = Path(dirpath)
                if "checkpoint-" in folder.name:
                    continue
                if ("config.json" in filenames or "adapter_config.json" in filenames) and folder not in found:
                    found.append(folder)
        return sorted(found)
