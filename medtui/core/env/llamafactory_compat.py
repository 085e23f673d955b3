"""What differs between the llamafactory versions medtui supports, asked of the installed package.

medtui runs on the user's own llamafactory: any release in :data:`TESTED_RANGE` (the dependency
range in ``pyproject.toml``) or a source checkout of upstream main. Behaviour that differs between
versions is detected from the installed files at run time, never from a list of version numbers:

============== ==================================================== ======================================
difference     how it is detected                                   used by
============== ==================================================== ======================================
arguments      :func:`accepts` / :func:`unknown_keys`: the fields   the builder leaves out spec defaults
               of the argument dataclasses llamafactory's parser    the installed parser would reject
               combines (``hparams/``, transformers' training       (:func:`usable_defaults`); the doctor
               arguments), read by :mod:`llamafactory_source`       lists spec arguments it lacks
choices        :func:`choices`: a ``Literal[...]`` annotation       choice lists (e.g. ``mix_strategy``)
templates      :func:`templates`: ``register_template`` calls       template suggestions (modelcheck)
PPO engine     :func:`ppo_engine`: the ``require_version("trl..")`` builder, doctor (llamafactory's PPO
               pin in ``train/ppo/trainer.py`` vs the installed trl or medtui's engine on TRL's PPOTrainer)
LlamaBoard     :func:`llamaboard_elements`: keyword names of the    LlamaBoard contract test
               ``dict(...)`` calls in ``webui/components/*.py``
============== ==================================================== ======================================

``docs/compatibility.md`` records which versions were tested and what differed between them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from importlib import metadata
from typing import Iterable, Mapping

from medtui.core.env import llamafactory_source as source
from medtui.core.stages.ppo_support import MEDTUI_ONLY_KEYS, PPOSupport, ppo_support

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
    return [k for k in keys if k not in fields and k not in MEDTUI_ONLY_KEYS]


def usable_defaults(defaults: Mapping[str, object], command: str = "train") -> dict[str, object]:
    """``defaults`` minus the keys the installed llamafactory does not know (its own default applies)."""
    unknown = set(unknown_keys(defaults, command))
    return {k: v for k, v in defaults.items() if k not in unknown}


def missing_spec_arguments() -> list[str]:
    """medtui's YAML arguments the installed llamafactory lacks (medtui's own PPO keys aside)."""
    from medtui.core.stages.spec import ARGS

    train, export = _fields("train"), _fields("export")
    if train is None or export is None:
        return []
    missing = []
    for arg in ARGS:
        if arg.target != "yaml" or arg.name in MEDTUI_ONLY_KEYS:
            continue
        known = export if arg.stages == ("export",) else train
        if arg.name not in known:
            missing.append(arg.name)
    return missing


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


def ppo_engine() -> PPOSupport:
    """Which engine runs PPO here: llamafactory's (its trl pin is met) or medtui's on TRL's PPOTrainer."""
    return ppo_support()


def llamaboard_elements() -> dict[str, list[str]]:
    """LlamaBoard's form elements per component file of the installed version (empty when unreadable)."""
    try:
        return source.webui_elements()
    except source.SourceUnavailable:
        return {}
