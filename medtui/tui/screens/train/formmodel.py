"""The Train form's model, without Textual: which fields a stage shows, and config <-> field values.

Field values are what the widgets hold: text for inputs, the typed choice for selects. A config is
what llamafactory (through :mod:`medtui.core.stages.builder`) receives. Keys the form has no field for
(unknown keys, or known keys that do not apply to the stage and method) travel in ``extras``
untouched, so loading and saving a llamafactory YAML keeps every key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medtui.core.stages.spec import ARG_BY_NAME, METHODS, SECTIONS, STAGES, Arg, args_for
from medtui.core.stages.validate import Problem, normalise, stage_of

METHOD_KEY = "finetuning_type"
#: Keys the form always owns (its two selectors), never shown as extras.
SELECTOR_KEYS = ("stage", METHOD_KEY)
SELECT_TYPES = ("choice", "bool")


def uses_select(arg: Arg) -> bool:
    return arg.type in SELECT_TYPES


#: Words for choice values that are not self-explanatory, (English, Chinese).
CHOICE_LABELS: dict[str, dict[Any, tuple[str, str]]] = {
    "launch_on": {"local": ("this machine", "本机"), "slurm": ("Slurm", "Slurm 集群")},
}
#: Fields that only matter for one value of another field: shown only then.
SHOWN_WHEN: dict[str, tuple[str, Any]] = {name: ("launch_on", "slurm") for name in ARG_BY_NAME
                                          if name.startswith("slurm_")}


def select_options(arg: Arg, lang: str = "en") -> list[tuple[str, Any]]:
    """(label, value) pairs of a select field; None is the blank 'default' entry, not an option."""
    if arg.type == "bool":
        return [("true", True), ("false", False)]
    labels = CHOICE_LABELS.get(arg.name, {})
    return [(labels[c][1 if lang == "zh" else 0] if c in labels else str(c), c) for c in arg.choices if c is not None]


def shown(arg: Arg, values: dict[str, Any]) -> bool:
    """Whether the field of ``arg`` is shown for these values (Slurm fields only when launching on Slurm)."""
    rule = SHOWN_WHEN.get(arg.name)
    return rule is None or values.get(rule[0]) == rule[1]


def form_sections(stage: str, method: str) -> list[tuple[str, list[Arg]]]:
    """The form's sections for a stage and method, in spec order; the method selector is not a field."""
    out = []
    for section in SECTIONS:
        args = [a for a in args_for(stage, method, section=section) if a.name != METHOD_KEY]
        if args:
            out.append((section, args))
    return out


def form_fields(stage: str, method: str) -> dict[str, Arg]:
    return {a.name: a for _, args in form_sections(stage, method) for a in args}


def to_field(arg: Arg, value: Any) -> Any:
    """A config value as its widget holds it (text for inputs, the value itself for selects)."""
    if value is None:
        return None
    if uses_select(arg):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def shown_default(arg: Arg) -> str:
    if arg.default is None:
        return ""
    if isinstance(arg.default, bool):
        return "true" if arg.default else "false"
    return str(arg.default)


@dataclass
class FormState:
    """Stage, method, field values (kept across stage switches) and pass-through extras."""

    stage: str = "sft"
    method: str = "lora"
    values: dict[str, Any] | None = None
    extras: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.values = dict(self.values or {})
        self.extras = dict(self.extras or {})

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> tuple["FormState", list[Problem]]:
        """Split a config (a loaded YAML, or a prefill) into fields and extras."""
        problems: list[Problem] = []
        stage = stage_of(config)
        if stage not in STAGES:
            problems.append(Problem("stage", f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}"))
            stage = "sft"
        method = config.get(METHOD_KEY) or ARG_BY_NAME[METHOD_KEY].default
        if method not in METHODS:
            problems.append(Problem(METHOD_KEY, f"{method!r} is not one of {', '.join(METHODS)}"))
            method = ARG_BY_NAME[METHOD_KEY].default
        fields = form_fields(stage, method)
        state = cls(stage, method)
        for key, value in config.items():
            if key in SELECTOR_KEYS:
                continue
            arg = fields.get(key)
            if arg is not None and _fits_field(arg, value):
                if value is not None:
                    state.values[key] = to_field(arg, value)
            else:
                state.extras[key] = value
        return state, problems

    def config(self) -> dict[str, Any]:
        """The config this state stands for: selectors, the shown fields that are set, then extras."""
        out: dict[str, Any] = {}
        if self.stage != "export":
            out["stage"] = self.stage
        out[METHOD_KEY] = self.method
        for name in form_fields(self.stage, self.method):
            value = self.values.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            out[name] = value
        for key, value in self.extras.items():
            out.setdefault(key, value)
        return out


def _fits_field(arg: Arg, value: Any) -> bool:
    """A select field can only show one of its options; anything else stays an extra, untouched."""
    if value is None or not uses_select(arg):
        return not isinstance(value, dict)
    return any(value == v and type(value) is type(v) for _, v in select_options(arg))


def typed_config(config: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The config with known values coerced to their types (for saving as YAML)."""
    return normalise(config)


def switch(state: FormState, stage: str, method: str) -> FormState:
    """The same form on another stage or method: extras that now have a field move into it."""
    new = FormState(stage, method, state.values, state.extras)
    fields = form_fields(stage, method)
    for key in list(new.extras):
        arg = fields.get(key)
        if arg is not None and _fits_field(arg, new.extras[key]):
            value = new.extras.pop(key)
            if value is not None:
                new.values[key] = to_field(arg, value)
    return new
