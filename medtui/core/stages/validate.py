"""Type coercion and field validation driven by :mod:`medtui.core.stages.spec`.

Forms hand in strings, YAML hands in typed values; both go through :func:`coerce`. The result
is a list of :class:`Problem` (field, message) that the CLI prints and the TUI shows next to
the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medtui.core.stages.spec import ARG_BY_NAME, METHODS, STAGES, Arg, args_for


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    level: str = "error"  # error | warn

    def __str__(self) -> str:
        prefix = "warning" if self.level == "warn" else "error"
        return f"{prefix}: {self.field}: {self.message}" if self.field else f"{prefix}: {self.message}"


_TRUE = {"true", "yes", "1", "on", "y"}
_FALSE = {"false", "no", "0", "off", "n"}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "") or value == []


def coerce(arg: Arg, value: Any) -> Any:
    """Convert ``value`` to the argument's type; raise ValueError with a readable message."""
    if _empty(value):
        return None
    kind = arg.type
    if kind == "choice":
        for choice in arg.choices:
            if value == choice or (choice is not None and str(value).strip().lower() == str(choice).lower()):
                return choice
        shown = ", ".join("none" if c is None else str(c) for c in arg.choices)
        if str(value).strip().lower() == "none" and None in arg.choices:
            return None
        raise ValueError(f"must be one of {shown}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("must be true or false")
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        try:
            result = int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            raise ValueError("must be a whole number") from None
        _check_range(arg, result)
        return result
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            result = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
        except ValueError:
            raise ValueError("must be a number, e.g. 5e-5") from None
        if result != result or result in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        _check_range(arg, result)
        return result
    if kind == "list":
        if isinstance(value, (list, tuple)):
            items = [str(v).strip() for v in value]
        else:
            items = [part.strip() for part in str(value).split(",")]
        items = [i for i in items if i]
        return ",".join(items) if items else None
    return str(value).strip() if isinstance(value, str) else value


def _check_range(arg: Arg, value: float) -> None:
    if arg.minimum is not None and value < arg.minimum:
        raise ValueError(f"must be at least {arg.minimum:g}")
    if arg.maximum is not None and value > arg.maximum:
        raise ValueError(f"must be at most {arg.maximum:g}")


def normalise(config: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Coerce every known key of ``config``; unknown keys pass through untouched."""
    problems: list[Problem] = []
    out: dict[str, Any] = {}
    for key, value in config.items():
        arg = ARG_BY_NAME.get(key)
        if arg is None:
            out[key] = value
            continue
        try:
            coerced = coerce(arg, value)
        except ValueError as exc:
            problems.append(Problem(key, str(exc)))
            out[key] = value
            continue
        if coerced is not None:
            out[key] = coerced
    return out, problems


def stage_of(config: dict[str, Any]) -> str:
    """The stage a config runs: its ``stage`` key, or export when it names an export_dir."""
    if "stage" in config and config["stage"] is not None:
        return str(config["stage"])
    if config.get("export_dir"):
        return "export"
    return "sft"


def validate(config: dict[str, Any]) -> list[Problem]:
    """Field-level checks: stage, method, required fields, types, ranges, exclusive flags."""
    stage = stage_of(config)
    if stage not in STAGES:
        return [Problem("stage", f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")]
    _, problems = normalise(config)
    method = config.get("finetuning_type") or ARG_BY_NAME["finetuning_type"].default
    if stage != "export" and method not in METHODS:
        problems.append(Problem("finetuning_type", f"must be one of {', '.join(METHODS)}"))
        method = None
    bad = {p.field for p in problems}
    predict_only = stage != "export" and as_bool(config.get("do_train")) is False
    for arg in args_for(stage, method):
        if arg.name == "dataset" and predict_only:
            continue  # a predict-only run reads eval_dataset instead
        if arg.required and arg.name not in bad and _empty(config.get(arg.name)):
            problems.append(Problem(arg.name, "is required"))
    if predict_only:
        if not (as_bool(config.get("do_predict")) or as_bool(config.get("do_eval"))):
            problems.append(Problem("do_train", "with do_train false, turn on do_predict or do_eval "
                                                "(nothing would run)"))
        if "eval_dataset" not in bad and _empty(config.get("eval_dataset")):
            problems.append(Problem("eval_dataset", "is required for a predict or evaluate run"))
    elif config.get("infer_backend") not in (None, "", "huggingface") and stage != "export":
        problems.append(Problem("infer_backend", "training runs use huggingface; vllm/sglang are for predict runs"))
    if "template" not in bad and not _empty(config.get("template")):
        problems += _template_problems(str(config["template"]))
    if _truthy(config.get("mask_history")) and _truthy(config.get("train_on_prompt")):
        problems.append(Problem("mask_history", "mask_history and train_on_prompt cannot both be on"))
    if _truthy(config.get("bf16")) and _truthy(config.get("fp16")):
        problems.append(Problem("fp16", "choose either bf16 or fp16, not both"))
    if stage == "ppo" and method != "lora" and config.get("reward_model_type", "lora") == "lora":
        problems.append(Problem("reward_model_type", "a LoRA reward model needs finetuning_type lora"))
    return problems


def _template_problems(name: str) -> list[Problem]:
    from medtui.core.env.llamafactory_source import suggest
    from medtui.core.stages.spec import template_names

    names = template_names()
    if not names or name in names:
        return []
    near = suggest(name, names)
    hint = f"; did you mean {', '.join(near)}?" if near else "; list them with: medtui data templates"
    return [Problem("template", f"llamafactory has no template {name!r}{hint}")]


def as_bool(value: Any) -> bool | None:
    """A yes/no value (bool or text such as "false") as True/False; None when unset or not yes/no."""
    try:
        return coerce(ARG_BY_NAME["do_predict"], value)
    except ValueError:
        return None


def _truthy(value: Any) -> bool:
    try:
        return coerce(ARG_BY_NAME["bf16"], value) is True
    except ValueError:
        return False
