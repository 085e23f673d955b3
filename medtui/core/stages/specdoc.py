"""Render the stage specification as Markdown: ``python -m medtui.core.stages.specdoc [--write FILE]``.

``docs/stage-arguments.md`` is this module's output; a test checks the committed file matches.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medtui.core.atomic import atomic_write_text
from medtui.core.stages.spec import (
    ARGS,
    MEDTUI_OWN_ARGS,
    METHODS,
    SECTION_TITLES,
    SECTIONS,
    STAGE_TITLES,
    STAGES,
    TRAIN_STAGES,
    Arg,
)

HEADER = """# Stage arguments / 阶段参数

Generated from `medtui/core/stages/spec.py` by `python -m medtui.core.stages.specdoc --write docs/stage-arguments.md`;
do not edit by hand. The TUI's Train form, `medtui train` validation and this page all come from that table.

Target: `yaml` goes into the llamafactory YAML, `env` into the run's environment, `launch` is read by
medtui's command builder (DeepSpeed config generation). "Needs" names the switch an argument only matters
with; its default is left out of the YAML while that switch is off. Chat templates are the installed
llamafactory's own (`medtui data templates`).
"""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(arg: Arg) -> str:
    if arg.default is None:
        return "—"
    if isinstance(arg.default, bool):
        return f"`{str(arg.default).lower()}`"
    return f"`{arg.default}`"


def _type(arg: Arg) -> str:
    if arg.type == "choice":
        return "choice: " + ", ".join("none" if c is None else str(c) for c in arg.choices)
    text = arg.type
    if arg.minimum is not None or arg.maximum is not None:
        low = "" if arg.minimum is None else f"{arg.minimum:g}"
        high = "" if arg.maximum is None else f"{arg.maximum:g}"
        text += f" [{low}..{high}]"
    return text


def _stages(arg: Arg) -> str:
    if tuple(arg.stages) == STAGES:
        return "all"
    if tuple(arg.stages) == TRAIN_STAGES:
        return "training"
    return ", ".join(arg.stages)


def _methods(arg: Arg) -> str:
    return "all" if tuple(arg.methods) == METHODS else ", ".join(arg.methods)


def render() -> str:
    lines = [HEADER]
    lines.append("Stages: " + "; ".join(f"`{s}` {STAGE_TITLES[s][0]} / {STAGE_TITLES[s][1]}" for s in STAGES) + ".")
    for section in SECTIONS:
        args = [a for a in ARGS if a.section == section]
        if not args:
            continue
        en, zh = SECTION_TITLES[section]
        lines += ["", f"## {en} / {zh}", "",
                  "| Argument | Type | Default | Stages | Methods | Target | Help | 说明 |",
                  "|---|---|---|---|---|---|---|---|"]
        for arg in args:
            name = f"`{arg.name}`" + (" (required)" if arg.required else "")
            if arg.requires:
                name += f" (needs `{arg.requires}`)"
            lines.append("| " + " | ".join(_cell(c) for c in (
                name, _type(arg), _default(arg), _stages(arg), _methods(arg), arg.target, arg.help_en, arg.help_zh,
            )) + " |")
    lines += ["", "## medtui's own arguments / medtui 自有参数", "",
              "Not llamafactory arguments (the contract test allows only these):", ""]
    lines += [f"- `{name}`: {reason}" for name, reason in MEDTUI_OWN_ARGS.items()]
    lines += ["", _llamaboard_section()]
    return "\n".join(lines).rstrip("\n") + "\n"


def _llamaboard_section() -> str:
    from medtui.core.stages.llamaboard import EXCLUDED, MAPPED, STRUCTURAL

    lines = ["## LlamaBoard coverage / LlamaBoard 对照", "",
             "Every element of LlamaBoard's form (`webui/components/*.py` of the installed llamafactory) maps onto "
             "medtui arguments or is excluded with a reason; `tests/unit/test_llamaboard_contract.py` fails on any "
             f"other. {len(MAPPED)} mapped, {len(EXCLUDED)} excluded by name, plus buttons, accordions and status "
             "boxes by their name's ending:", ""]
    lines += [f"- `*{suffix}`: {reason}" for suffix, reason in STRUCTURAL.items()]
    lines += ["", "| LlamaBoard element | medtui |", "|---|---|"]
    lines += [f"| `{e}` | {', '.join(f'`{t}`' for t in targets)} |" for e, targets in MAPPED.items()]
    lines += ["", "| Excluded element | Why |", "|---|---|"]
    lines += [f"| `{e}` | {_cell(reason)} |" for e, reason in EXCLUDED.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medtui.core.stages.specdoc", description=__doc__)
    parser.add_argument("--write", metavar="FILE", help="write the Markdown to FILE instead of printing it")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        atomic_write_text(Path(args.write), text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
