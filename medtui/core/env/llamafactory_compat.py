"""What differs between the llamafactory versions medtui supports, asked of the installed package.

medtui runs on the user's own llamafactory: any release in :data:`TESTED_RANGE` (the dependency
range in ``pyproject.toml``) or a source checkout of upstream main. Behaviour that differs between
versions is detected from the installed files at run time, never from a list of version numbers:

============== ==================================================== ======================================
difference     how it is detected                                   used by
============== ==================================================== ======================================
arguments      :func:`accepts` / :func:`unknown_keys`: the fields   the builder leaves out spec defaults
               of the argument dataclasses llamafactory's parser    the installed parser would reject
               combines (``hparams/``, transformers' training       (:func:`usable_defaults`)
               arguments), read by :mod:`llamafactory_source`
choices        :func:`choices`: a ``Literal[...]`` annotation       whatever offers such an argument's
                                                                    values (none of the spec's differ)
templates      :func:`templates`: ``register_template`` calls       template suggestions (modelcheck)
PPO engine     :func:`ppo_trl_requirement`: the trainer's          ``stages/ppo_support.py`` picks
               ``require_version("trl...")`` pin (0.9.4 on), else   llamafactory's PPO when the installed
               llamafactory's declared trl range (0.9.3)            trl meets it, else medtui's engine;
                                                                    the doctor's PPO check
LlamaBoard     :func:`llamaboard_elements`: keyword names of the    LlamaBoard contract test
               ``dict(...)`` calls in ``webui/components/*.py``
============== ==================================================== ======================================

``docs/compatibility.md`` records which versions were tested and what differed between them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Iterable, Mapping

from medtui.core.env import llamafactory_source as source

#: The llamafactory releases medtui is tested with; the same specifier as pyproject's dependency.
TESTED_RANGE = ">=0.9.3,<0.10"
PIP_RANGE = f"llamafactory{TESTED_RANGE}"


# -- the version and the tested range ------------------------------------------------------------
@dataclass(frozen=True)
class VersionStatus:
    """Where an installed llamafactory version stands against :data:`TESTED_RANGE`.

    ``state`` is ``tested`` (a release in the range), ``development`` (a pre-release or ``.dev``
    build inside it, e.g. a source checkout of upstream main), ``older``, ``newer``, ``unknown``
    (unreadable version) or ``missing``.
    """

    version: str | None
    state: str

    @property
    def in_range(self) -> bool:
        return self.state in ("tested", "development")

    def reason(self) -> str:
        """One line for the doctor: in the range, or why not and what that risks."""
        v, rng = self.version, TESTED_RANGE
        if self.state == "tested":
            return f"within medtui's tested range {rng}"
        if self.state == "development":
            return (f"a development version (a source checkout?) within medtui's tested range {rng}; "
                    "medtui reads its arguments and templates from the installed files")
        if self.state == "older":
            return (f"older than medtui's tested range {rng}: medtui was not tested with it, so stage arguments, "
                    "templates or the PPO path may not match")
        if self.state == "newer":
            return (f"newer than medtui's tested range {rng}: medtui was not tested with it; medtui leaves out "
                    "defaults of arguments it no longer accepts, but stages or the PPO path may not match")
        if self.state == "unknown":
            return f"its version {v!r} is not a version number, so medtui cannot tell whether it is in {rng}"
        return "llamafactory is not installed"


def version_status(version: str | None | bool = True) -> VersionStatus:
    """The installed llamafactory's standing (or ``version``'s, for a given version string)."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    if version is True:
        try:
            version = metadata.version("llamafactory")
        except metadata.PackageNotFoundError:
            version = None
    if not version:
        return VersionStatus(None, "missing")
    try:
        parsed = Version(str(version))
    except InvalidVersion:
        return VersionStatus(str(version), "unknown")
    spec = SpecifierSet(TESTED_RANGE)
    if spec.contains(parsed, prereleases=True):
        return VersionStatus(str(version), "development" if parsed.is_prerelease else "tested")
    lowest = min(Version(s.version) for s in spec if s.operator in (">=", ">", "=="))
    return VersionStatus(str(version), "older" if parsed < lowest else "newer")


# -- argument names --------------------------------------------------------------------------------
#: Keys every readable parser has; without them the reading went wrong (say, a moved parser list), and
#: nothing must then be filtered on its word.
_SENTINELS = {"train": ("model_name_or_path", "output_dir", "learning_rate")}


def _fields(command: str) -> dict[str, source.Field] | None:
    """The installed parser's fields for ``command``, or None when they cannot be read with confidence."""
    try:
        fields = source.argument_fields(command)
    except source.SourceUnavailable:
        return None
    if not all(k in fields for k in _SENTINELS.get(command, ("model_name_or_path",))):
        return None
    return fields


def accepts(key: str, command: str = "train") -> bool | None:
    """Whether the installed llamafactory's parser takes ``key`` for ``command``; None when unreadable."""
    fields = _fields(command)
    return None if fields is None else key in fields


def unknown_keys(keys: Iterable[str], command: str = "train") -> list[str]:
    """The keys the installed parser would refuse (empty when its source cannot be read)."""
    fields = _fields(command)
    if fields is None:
        return []
    return [k for k in keys if k not in fields]


def usable_defaults(defaults: Mapping[str, object], command: str = "train", *,
                    keep: Iterable[str] = ()) -> dict[str, object]:
    """``defaults`` minus the keys the installed llamafactory does not know (its own default applies).

    ``keep`` names keys that are not llamafactory's to judge (medtui's own PPO engine settings).
    """
    unknown = set(unknown_keys(defaults, command)) - set(keep)
    return {k: v for k, v in defaults.items() if k not in unknown}


def _literal(node: ast.expr) -> ast.Subscript | None:
    """The ``Literal[...]`` inside ``Optional[...]``, ``Union[...]`` or ``... | None``, if any."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _literal(node.left) or _literal(node.right)
    if not isinstance(node, ast.Subscript):
        return None
    name = getattr(node.value, "id", getattr(node.value, "attr", ""))
    if name == "Literal":
        return node
    if name in ("Optional", "Union"):
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return next((lit for lit in map(_literal, parts) if lit is not None), None)
    return None


def choices(key: str, command: str = "train") -> tuple[str, ...] | None:
    """The values a ``Literal[...]``-annotated argument accepts in this version; None otherwise.

    0.9.4 added ``oft`` to ``finetuning_type``; 0.9.5 added ``interleave_once`` to ``mix_strategy``.
    """
    fields = _fields(command)
    if not fields or key not in fields:
        return None
    try:
        node = _literal(ast.parse(fields[key].annotation, mode="eval").body)
    except SyntaxError:
        return None
    if node is None:
        return None
    elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    values = tuple(e.value for e in elts if isinstance(e, ast.Constant))
    return values or None


# -- templates, PPO, LlamaBoard --------------------------------------------------------------------
def templates() -> frozenset[str] | None:
    """The chat templates the installed llamafactory registers; None when its source is unreadable."""
    try:
        return frozenset(source.templates())
    except source.SourceUnavailable:
        return None


@dataclass(frozen=True)
class PPORequirement:
    """The trl that llamafactory's own PPO trainer needs, and where that was read."""

    trainer: Path | None  # llamafactory's train/ppo/trainer.py; None when there is none
    requirement: str | None  # e.g. "trl>=0.8.6,<=0.9.6"
    origin: str  # "pin": the trainer's require_version; "declared": llamafactory's trl dependency; "" none


PPO_TRAINER_FILE = ("train", "ppo", "trainer.py")
_TRL_PIN = re.compile(r"""require_version\(\s*["'](trl\s*[<>=!~][^"']*)["']""")


def trl_pin(text: str) -> str | None:
    """The ``trl...`` specifier of the first ``require_version("trl...")`` call in ``text``."""
    match = _TRL_PIN.search(text)
    return re.sub(r"\s+", "", match.group(1)) if match else None


def declared_requirement(name: str) -> str | None:
    """llamafactory's own dependency on ``name`` (say ``trl<=0.9.6,>=0.8.6``), from its metadata."""
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
        if req.name.lower() == name and req.specifier and (req.marker is None or req.marker.evaluate({"extra": ""})):
            return f"{name}{req.specifier}"
    return None


def ppo_trl_requirement(package_dir: Path | None | bool = True) -> PPORequirement:
    """The trl llamafactory's own PPO needs: its trainer's pin (0.9.4 on), else the package's range (0.9.3).

    ``package_dir`` stands in for the installed package's folder (tests, the doctor's fakes).
    """
    if package_dir is True:
        install = source.locate()
        package_dir = install.package_dir if install else None
    trainer = Path(package_dir).joinpath(*PPO_TRAINER_FILE) if package_dir else None
    if trainer is None or not trainer.is_file():
        return PPORequirement(None, None, "")
    try:
        pin = trl_pin(trainer.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return PPORequirement(None, None, "")
    if pin:
        return PPORequirement(trainer, pin, "pin")
    declared = declared_requirement("trl")
    return PPORequirement(trainer, declared, "declared" if declared else "")


def llamaboard_elements() -> dict[str, list[str]]:
    """LlamaBoard's form elements per component file of the installed version (empty when unreadable)."""
    try:
        return source.webui_elements()
    except source.SourceUnavailable:
        return {}
