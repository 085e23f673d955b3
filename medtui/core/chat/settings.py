"""Generation settings of the chat screen and ``medtui chat``, described like stage arguments.

The defaults are llamafactory's own (``GeneratingArguments``). The entries reuse
:class:`medtui.core.stages.spec.Arg` so forms and the CLI coerce them with :func:`medtui.core.stages.validate.coerce`.
They belong to no training stage (``stages=()``).
"""

from __future__ import annotations

from typing import Any

from medtui.core.stages.spec import Arg
from medtui.core.stages.validate import Problem, coerce

GEN_ARGS: tuple[Arg, ...] = (
    Arg("max_new_tokens", "int", 1024, "Longest reply, in tokens.", "回复的最大 token 数。", stages=(),
        minimum=1, maximum=131072),
    Arg("temperature", "float", 0.95, "Sampling temperature (0: greedy).", "采样温度(0 为贪心解码)。",
        stages=(), minimum=0, maximum=2),
    Arg("top_p", "float", 0.7, "Nucleus sampling: keep the top tokens up to this probability.",
        "核采样:保留累计概率达到该值的 token。", stages=(), minimum=0.01, maximum=1),
    Arg("top_k", "int", 50, "Keep only the k most likely tokens (0: off).", "只保留概率最高的 k 个 token(0 为关闭)。",
        stages=(), minimum=0),
    Arg("repetition_penalty", "float", 1.0, "Penalty for repeating tokens (1: none).", "重复惩罚(1 为不惩罚)。",
        stages=(), minimum=1, maximum=2),
)
GEN_BY_NAME = {a.name: a for a in GEN_ARGS}


def gen_defaults() -> dict[str, Any]:
    return {a.name: a.default for a in GEN_ARGS}


def parse_gen(values: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Coerce form or CLI values; empty values fall back to the defaults."""
    out = gen_defaults()
    problems: list[Problem] = []
    for name, raw in values.items():
        arg = GEN_BY_NAME.get(name)
        if arg is None:
            problems.append(Problem(name, "is not a generation setting"))
            continue
        try:
            value = coerce(arg, raw)
        except ValueError as exc:
            problems.append(Problem(name, str(exc)))
            continue
        if value is not None:
            out[name] = value
    return out, problems
