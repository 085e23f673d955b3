"""The contract with the installed llamafactory: medtui's stage table covers LlamaBoard.

Everything is read from the installed package at test time (ast, no copy, no import):
its argument dataclasses, LlamaBoard's component files and its template registry.
"""

from __future__ import annotations

import ast

import pytest

from medtui.core.chat.settings import GEN_BY_NAME
from medtui.core.env import llamafactory_source as lfs
from medtui.core.stages import llamaboard, spec
from medtui.core.stages.validate import validate


def _command(arg: spec.Arg) -> str:
    return "export" if tuple(arg.stages) == ("export",) else "train"


def test_every_yaml_argument_is_llamafactorys_or_medtuis_own():
    unknown = []
    for arg in spec.ARGS:
        if arg.target != "yaml":
            continue
        if arg.name not in lfs.argument_fields(_command(arg)) and arg.name not in spec.MEDTUI_OWN_ARGS:
            unknown.append(f"{arg.name} ({_command(arg)})")
    assert unknown == [], f"spec arguments llamafactory does not know: {unknown}"


def test_medtuis_own_arguments_are_really_its_own_and_say_why():
    train = lfs.argument_fields("train")
    for name, reason in spec.MEDTUI_OWN_ARGS.items():
        assert name in spec.ARG_BY_NAME and len(reason) > 20
        assert name not in train, f"{name} is llamafactory's now; drop it from MEDTUI_OWN_ARGS"


def _literal_values(annotation: str) -> set | None:
    try:
        node = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        return None
    for sub in ast.walk(node):
        if isinstance(sub, ast.Subscript) and getattr(sub.value, "id", "") == "Literal":
            elts = sub.slice.elts if isinstance(sub.slice, ast.Tuple) else [sub.slice]
            return {e.value for e in elts if isinstance(e, ast.Constant)}
    return None


def test_choices_are_values_llamafactory_accepts():
    for arg in spec.ARGS:
        if arg.type != "choice" or arg.target != "yaml":
            continue
        field = lfs.argument_fields(_command(arg)).get(arg.name)
        allowed = _literal_values(field.annotation) if field else None
        if allowed:
            assert {c for c in arg.choices if c is not None} <= allowed, arg.name


def test_every_llamaboard_element_is_mapped_or_excluded():
    cov = llamaboard.coverage(lfs.webui_elements(), GEN_BY_NAME)
    assert cov.unknown == [], f"LlamaBoard elements medtui neither maps nor excludes: {cov.unknown}"
    assert cov.stale == [], f"elements in medtui's tables that LlamaBoard no longer has: {cov.stale}"
    assert cov.bad_targets == {}, f"elements mapped onto arguments medtui lacks: {cov.bad_targets}"
    assert len(cov.mapped) >= 90 and all(cov.excluded.values())


def test_a_new_llamaboard_field_breaks_the_contract():
    elements = {k: list(v) for k, v in lfs.webui_elements().items()}
    elements["train"].append("fancy_new_knob")
    elements["top"].remove("booster")
    cov = llamaboard.coverage(elements, GEN_BY_NAME)
    assert cov.unknown == ["train.fancy_new_knob"]
    assert cov.stale == ["top.booster"]
    assert not cov.ok


def test_mapped_training_fields_reach_llamafactory_as_arguments():
    """A mapped Train-tab element lands on a key llamafactory's train parser accepts (or a launch/env key)."""
    train = lfs.argument_fields("train")
    for element, targets in llamaboard.MAPPED.items():
        if not element.startswith(("top.", "train.")):
            continue
        for target in targets:
            arg = spec.ARG_BY_NAME.get(target)
            if arg is None:
                assert target in llamaboard.FORM_KEYS, (element, target)
            elif arg.target == "yaml":
                assert target in train or target in spec.MEDTUI_OWN_ARGS, (element, target)


def test_every_excluded_element_has_a_one_line_reason():
    for element, reason in llamaboard.EXCLUDED.items():
        assert reason and "\n" not in reason and len(reason) < 130, element


def test_templates_are_the_installed_llamafactorys_own():
    assert spec.template_names() == lfs.templates()
    assert "default" in spec.template_names() and "qwen3" in spec.template_names()
    assert "baichuan2" not in spec.template_names()  # the old hard-coded list offered it
    assert not hasattr(spec, "TEMPLATES") and spec.ARG_BY_NAME["template"].suggestions == ()


def test_unknown_template_is_refused_with_a_suggestion():
    problems = validate({"stage": "sft", "template": "qwen33", "model_name_or_path": "m", "dataset": "d",
                         "output_dir": "o"})
    assert [p.field for p in problems] == ["template"]
    assert "qwen3" in problems[0].message
    assert validate({"stage": "sft", "template": "qwen3", "model_name_or_path": "m", "dataset": "d",
                     "output_dir": "o"}) == []


@pytest.mark.parametrize("section", spec.SECTIONS)
def test_sections_stay_small_enough_for_80x24(section):
    """A section is one collapsible; more than ~22 fields would be a long scroll in a 24-row terminal."""
    assert 0 < len([a for a in spec.ARGS if a.section == section]) <= 22
