"""What the installed llamafactory accepts, read from its source files, never by importing it.

Importing llamafactory costs about 10 s (it imports torch), so medtui reads the facts it needs
with :mod:`ast` from the installed package's files:

* :func:`argument_fields` - every key a YAML may hold for a command (``train``, ``export``,
  ``chat``, ``eval``): the fields of the argument dataclasses that llamafactory's parser combines
  (``hparams/parser.py``), with transformers' ``Seq2SeqTrainingArguments`` for training;
* :func:`templates` - the chat template names (``register_template`` calls in ``data/template.py``);
* :func:`webui_elements` - LlamaBoard's form elements per component file (``webui/components``);
* :func:`constants` - literal constants of ``extras/constants.py`` (``TRAINING_STAGES``, ``CHOICES`` ...);
* :func:`suggest` - the nearest valid names for a misspelt key.

Results are cached per installed version and file modification times, in memory and in
``$XDG_CACHE_HOME/medtui/``, so a check costs about a millisecond after the first.
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from medtui.core.atomic import atomic_write_text
from medtui.core.userdirs import cache_dir

#: llamafactory's parser lists per command (``hparams/parser.py``); ``export`` and ``chat`` use the
#: inference list.
PARSER_LISTS = {"train": "_TRAIN_ARGS", "export": "_INFER_ARGS", "chat": "_INFER_ARGS", "eval": "_EVAL_ARGS"}
CACHE_FORMAT = 4
#: The literal constants :func:`constants` reads from ``extras/constants.py``.
CONSTANTS = ("TRAINING_STAGES", "CHOICES", "SUBJECTS", "LLAMABOARD_CONFIG", "TRAINING_ARGS", "TRAINER_LOG", "METHODS")


@dataclass(frozen=True)
class Install:
    """Where the installed llamafactory lives and which version it reports."""

    package_dir: Path
    version: str
    transformers_dir: Path | None

    @property
    def hparams_dir(self) -> Path:
        return self.package_dir / "hparams"


@dataclass(frozen=True)
class Field:
    """One argument of llamafactory's parser: name, owning dataclass, annotation, default, help."""

    name: str
    owner: str
    annotation: str
    default: str
    help: str


class SourceUnavailable(Exception):
    """llamafactory (or a file medtui reads from it) is not installed or not readable."""


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def locate() -> Install | None:
    """The installed llamafactory, or None. Finds the package without executing it."""
    package = _package_dir("llamafactory")
    if package is None:
        return None
    try:
        version = metadata.version("llamafactory")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Install(package, version, _package_dir("transformers"))


def _require() -> Install:
    install = locate()
    if install is None:
        raise SourceUnavailable("llamafactory is not installed in this Python environment")
    return install


def _parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise SourceUnavailable(f"cannot read {path}: {exc}") from exc


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _help_of(call: ast.expr) -> str:
    """The ``metadata={"help": ...}`` text of a ``field(...)`` call (implicitly joined strings)."""
    if not isinstance(call, ast.Call):
        return ""
    for kw in call.keywords:
        if kw.arg == "metadata" and isinstance(kw.value, ast.Dict):
            for key, value in zip(kw.value.keys, kw.value.values):
                if isinstance(key, ast.Constant) and key.value == "help":
                    try:
                        text = ast.literal_eval(value)
                    except ValueError:
                        return ""
                    return text if isinstance(text, str) else ""
    return ""


def _default_of(value: ast.expr | None) -> str:
    if value is None:
        return ""
    if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "field":
        for kw in value.keywords:
            if kw.arg == "default":
                return ast.unparse(kw.value)
            if kw.arg == "default_factory":
                return ast.unparse(kw.value) + "()"
        return ""
    return ast.unparse(value)


def _own_fields(cls: ast.ClassDef) -> list[Field]:
    fields = []
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            annotation = ast.unparse(node.annotation)
            if annotation.startswith("ClassVar"):
                continue
            fields.append(Field(node.target.id, cls.name, annotation, _default_of(node.value),
                                _help_of(node.value) if node.value is not None else ""))
    return fields


class _ClassIndex:
    """Dataclasses of llamafactory's hparams (``lf``) and transformers' training arguments (``tf``)."""

    #: how llamafactory's hparams name transformers' classes they derive from
    LF_ALIASES = {"BaseTrainingArguments": "Seq2SeqTrainingArguments", "Seq2SeqTrainingArguments": "Seq2SeqTrainingArguments"}

    def __init__(self, install: Install) -> None:
        self.classes: dict[tuple[str, str], ast.ClassDef] = {}
        for path in sorted(install.hparams_dir.glob("*.py")):
            self.classes.update({("lf", n): c for n, c in _classes(_parse(path)).items()})
        if install.transformers_dir is not None:
            for name in ("training_args.py", "training_args_seq2seq.py"):
                path = install.transformers_dir / name
                if path.is_file():
                    self.classes.update({("tf", n): c for n, c in _classes(_parse(path)).items()})

    def _resolve(self, origin: str, base: ast.expr) -> tuple[str, str]:
        name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
        if origin == "lf" and name in self.LF_ALIASES and ("lf", name) not in self.classes:
            return ("tf", self.LF_ALIASES[name])
        return (origin, name)

    def fields(self, name: str, origin: str = "lf", seen: set | None = None) -> dict[str, Field]:
        """Fields of ``name`` and its bases, a subclass's field winning over a base's (MRO-like)."""
        seen = seen if seen is not None else set()
        cls = self.classes.get((origin, name))
        if cls is None or (origin, name) in seen:
            return {}
        seen.add((origin, name))
        result: dict[str, Field] = {}
        for base in reversed(cls.bases):
            base_origin, base_name = self._resolve(origin, base)
            result.update(self.fields(base_name, base_origin, seen))
        result.update({f.name: f for f in _own_fields(cls)})
        return result


def _parser_lists(install: Install) -> dict[str, list[str]]:
    tree = _parse(install.hparams_dir / "parser.py")
    lists: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in PARSER_LISTS.values():
                    lists[target.id] = [e.id for e in node.value.elts if isinstance(e, ast.Name)]
    return lists


def _template_names(install: Install) -> list[str]:
    tree = _parse(install.package_dir / "data" / "template.py")
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "register_template":
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.append(arg.value)
    return sorted(set(names))


def _element_names(func: ast.FunctionDef) -> list[str]:
    """Keyword names of the ``dict(...)`` a ``create_*`` function returns or adds with ``.update(...)``."""
    calls: list[ast.Call] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Return) and node.value is not None:
            calls += [c for c in ast.walk(node.value) if isinstance(c, ast.Call)]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "update":
            calls += [a for a in node.args if isinstance(a, ast.Call)]
    return [kw.arg for c in calls if getattr(c.func, "id", "") == "dict" for kw in c.keywords if kw.arg]


def _webui_elements(install: Install) -> dict[str, list[str]]:
    """LlamaBoard's elements per component file: what its ``create_*`` functions hand to the manager."""
    elements: dict[str, list[str]] = {}
    folder = install.package_dir / "webui" / "components"
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        names: list[str] = []
        for node in _parse(path).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("create_"):
                names += _element_names(node)
        elements[path.stem] = sorted(set(names))
    return elements


def _constants(install: Install) -> dict:
    """The :data:`CONSTANTS` that are plain literals in ``extras/constants.py``."""
    values = {}
    for node in _parse(install.package_dir / "extras" / "constants.py").body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in CONSTANTS:
                try:
                    values[name] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return values


def _fingerprint(install: Install) -> str:
    paths = [*install.hparams_dir.glob("*.py"), install.package_dir / "data" / "template.py",
             install.package_dir / "extras" / "constants.py",
             *(install.package_dir / "webui" / "components").glob("*.py")]
    if install.transformers_dir is not None:
        paths += [install.transformers_dir / "training_args.py", install.transformers_dir / "training_args_seq2seq.py"]
    digest = hashlib.sha256(f"{CACHE_FORMAT}|{install.package_dir}|{install.version}".encode())
    for path in sorted(paths):
        try:
            digest.update(f"{path}:{path.stat().st_mtime_ns}".encode())
        except OSError:
            continue
    return digest.hexdigest()[:16]


def _cache_file(install: Install) -> Path:
    return cache_dir() / f"llamafactory-{install.version}-{_fingerprint(install)}.json"


def _read_all(install: Install) -> dict:
    index = _ClassIndex(install)
    lists = _parser_lists(install)
    commands = {}
    for command, list_name in PARSER_LISTS.items():
        fields: dict[str, Field] = {}
        for cls_name in lists.get(list_name, []):
            fields.update(index.fields(cls_name))
        commands[command] = {name: vars(f) for name, f in sorted(fields.items())}
    try:
        webui = _webui_elements(install)
    except SourceUnavailable:
        webui = {}
    try:
        constants = _constants(install)
    except SourceUnavailable:
        constants = {}
    return {"version": install.version, "commands": commands, "templates": _template_names(install), "webui": webui,
            "constants": constants}


@functools.lru_cache(maxsize=4)
def _facts(package_dir: str, fingerprint: str) -> dict:
    install = _require()
    cache = _cache_file(install)
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("version") == install.version:
            return data
    except (OSError, ValueError):
        pass
    data = _read_all(install)
    try:
        atomic_write_text(cache, json.dumps(data, ensure_ascii=False))
    except OSError:
        pass  # a read-only cache folder only costs the parse next time
    return data


def facts() -> dict:
    """Everything this module reads, for the installed llamafactory. Raises SourceUnavailable."""
    install = _require()
    return _facts(str(install.package_dir), _fingerprint(install))


def argument_fields(command: str = "train") -> dict[str, Field]:
    """The YAML keys llamafactory's parser accepts for ``command`` (train, export, chat, eval)."""
    if command not in PARSER_LISTS:
        raise ValueError(f"unknown command {command!r}; one of {', '.join(PARSER_LISTS)}")
    return {name: Field(**f) for name, f in facts()["commands"][command].items()}


def templates() -> tuple[str, ...]:
    """The chat template names the installed llamafactory registers."""
    return tuple(facts()["templates"])


def webui_elements() -> dict[str, list[str]]:
    """LlamaBoard's form elements, per component file (``top``, ``train``, ``eval``, ``export`` ...)."""
    return facts()["webui"]


def constants() -> dict:
    """Literal constants of llamafactory's ``extras/constants.py`` named in :data:`CONSTANTS` (sets become lists)."""
    return facts().get("constants", {})


def suggest(name: str, candidates, n: int = 3) -> list[str]:
    """The nearest valid names for a misspelt one ("did you mean ...")."""
    return difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.6)
