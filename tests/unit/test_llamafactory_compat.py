"""What differs between llamafactory versions, detected from the installed files: one test per difference.

Each test builds two small source trees shaped like two real releases (only the lines medtui
reads: argument dataclasses, ``register_template`` calls, LlamaBoard component dicts, the PPO
trainer's trl pin) and checks that medtui's answer follows the tree it finds, with no version
number involved. The real llamafactory of this environment is checked too.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from medtui.core.env import checks
from medtui.core.env import llamafactory_compat as compat
from medtui.core.env import llamafactory_source as source
from medtui.core.hub import modelcheck
from medtui.core.stages import ppo_support as ppo_mod
from medtui.core.stages.builder import build_plan
from medtui.core.stages.ppo_support import MEDTUI_ONLY_KEYS
from medtui.core.stages.preflight import check_arguments
from medtui.core.stages.spec import ARGS
from tests.conftest import ROOT

SPEC_YAML_KEYS = [a.name for a in ARGS if a.target == "yaml" and a.stages != ("export",)]
TRANSFORMERS = {
    "training_args.py": "from dataclasses import dataclass, field\n\n@dataclass\nclass TrainingArguments:\n{fields}",
    "training_args_seq2seq.py": ("from .training_args import TrainingArguments\n\n"
                                 "class Seq2SeqTrainingArguments(TrainingArguments):\n"
                                 "    predict_with_generate: bool = False\n"),
}
TRAINING_KEYS = ("output_dir", "overwrite_output_dir", "learning_rate", "num_train_epochs", "max_steps",
                 "per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                 "lr_scheduler_type", "max_grad_norm", "warmup_steps", "optim", "bf16", "fp16", "seed", "logging_steps",
                 "save_steps", "save_total_limit", "report_to", "include_num_input_tokens_seen", "ddp_timeout",
                 "resume_from_checkpoint", "do_train", "do_predict", "do_eval")


def _lines(names, annotation="str") -> str:
    return "".join(f"    {n}: {annotation} = field(default=None, metadata={{'help': '{n}'}})\n" for n in names) or "    pass\n"


def fake_llamafactory(root: Path, *, lacks=(), extra=(), mix_strategy=("concat",), templates=("default",),
                      train_tab=("learning_rate",), ppo_pin: str | None = "trl>=0.8.6,<=0.9.6") -> Path:
    """A llamafactory + transformers source tree with every spec argument except ``lacks``, plus ``extra``."""
    yaml_args = [a.name for a in ARGS if a.target == "yaml" and a.name not in (*TRAINING_KEYS, *MEDTUI_ONLY_KEYS)]
    own = [n for n in dict.fromkeys(["model_name_or_path", *yaml_args, "stage", *extra]) if n not in lacks]
    lf, tf = root / "llamafactory", root / "transformers"
    (lf / "hparams").mkdir(parents=True)
    (lf / "hparams" / "parser.py").write_text(
        "_TRAIN_ARGS = [ModelArguments, DataArguments, TrainingArguments, FinetuningArguments, GeneratingArguments]\n"
        "_INFER_ARGS = [ModelArguments, DataArguments, FinetuningArguments, GeneratingArguments]\n"
        "_EVAL_ARGS = [ModelArguments, DataArguments, EvaluationArguments, FinetuningArguments]\n")
    literal = ", ".join(repr(c) for c in mix_strategy)
    (lf / "hparams" / "args.py").write_text(
        "from dataclasses import dataclass, field\nfrom typing import Literal, Optional\n"
        "from transformers import Seq2SeqTrainingArguments\n\n"
        f"@dataclass\nclass ModelArguments:\n{_lines(own)}\n"
        f"@dataclass\nclass DataArguments:\n    mix_strategy: Literal[{literal}] = field(default='concat')\n"
        f"    badam_mode: Literal['layer', 'ratio'] | None = None\n    mixture_of_depths: Optional[Literal['convert']] = None\n\n"
        "@dataclass\nclass TrainingArguments(Seq2SeqTrainingArguments):\n    pass\n\n"
        "@dataclass\nclass FinetuningArguments:\n    pass\n\n"
        "@dataclass\nclass GeneratingArguments:\n    pass\n\n"
        "@dataclass\nclass EvaluationArguments:\n    task: Optional[str] = None\n")
    (lf / "data").mkdir()
    (lf / "data" / "template.py").write_text("".join(f'register_template(name="{t}", format_user=None)\n'
                                                     for t in templates))
    (lf / "webui" / "components").mkdir(parents=True)
    (lf / "webui" / "components" / "train.py").write_text(
        "def create_train_tab(engine):\n    elem_dict = {}\n"
        f"    elem_dict.update(dict({', '.join(f'{n}={n}' for n in train_tab)}))\n    return elem_dict\n")
    (lf / "train" / "ppo").mkdir(parents=True)
    pin = f'        require_version(\n            "{ppo_pin}",\n            "To fix: pip install"\n        )\n' if ppo_pin else ""
    (lf / "train" / "ppo" / "trainer.py").write_text(f"class CustomPPOTrainer:\n    def __init__(self):\n{pin}        pass\n")
    tf.mkdir()
    kept = [k for k in TRAINING_KEYS if k not in lacks]
    (tf / "training_args.py").write_text(TRANSFORMERS["training_args.py"].format(fields=_lines(kept)))
    (tf / "training_args_seq2seq.py").write_text(TRANSFORMERS["training_args_seq2seq.py"])
    return root


@pytest.fixture
def installed(monkeypatch):
    """Make medtui read a given fake tree as "the installed llamafactory"."""
    def use(root: Path) -> None:
        dirs = {"llamafactory": root / "llamafactory", "transformers": root / "transformers"}
        monkeypatch.setattr(source, "_package_dir", lambda name: dirs.get(name))
        ppo_mod.ppo_support.cache_clear()
    yield use
    ppo_mod.ppo_support.cache_clear()


# -- the range --------------------------------------------------------------------------------------
def test_tested_range_is_pyprojects_dependency_and_is_documented():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (lf,) = [Requirement(d) for d in deps if Requirement(d).name == "llamafactory"]
    assert lf.specifier == SpecifierSet(compat.TESTED_RANGE)
    for doc in ("README.md", "docs/compatibility.md"):
        assert compat.TESTED_RANGE in (ROOT / doc).read_text(encoding="utf-8"), doc


@pytest.mark.parametrize("version, state", [
    ("0.9.3", "tested"), ("0.9.4", "tested"), ("0.9.5", "tested"), ("0.9.6.dev0", "development"),
    ("0.9.2", "older"), ("0.8.3", "older"), ("0.10.0", "newer"), ("1.0", "newer"), ("main", "unknown"), (None, "missing"),
])
def test_version_status(version, state):
    status = compat.version_status(version)
    assert status.state == state
    assert status.in_range == (state in ("tested", "development"))
    assert status.reason()


def test_doctor_reports_the_version_and_warns_outside_the_range():
    inside = checks.check_llamafactory()
    assert inside.status == "ok" and "within medtui's tested range" in inside.detail
    assert re.search(r"llamafactory \S+ at /", inside.detail)
    old = checks.check_llamafactory(version="0.9.2")
    assert old.status == "warn" and "older than medtui's tested range" in old.detail
    assert compat.PIP_RANGE in old.fix
    new = checks.check_llamafactory(version="0.10.1")
    assert new.status == "warn" and "newer than medtui's tested range" in new.detail
    dev = checks.check_llamafactory(version="0.9.6.dev0")
    assert dev.status == "ok" and "development version" in dev.detail


# -- argument names ---------------------------------------------------------------------------------
def test_arguments_follow_the_installed_dataclasses(tmp_path, installed, demo_ws):
    config = {"stage": "sft", "model_name_or_path": "models/m", "dataset": "d", "finetuning_type": "lora"}
    # 0.9.4 has ray_run_name; 0.9.5 dropped it and added preserve_thinking. 0.8.3 lacked enable_liger_kernel.
    installed(fake_llamafactory(tmp_path / "a", extra=("ray_run_name",), lacks=("enable_liger_kernel",)))
    assert compat.accepts("ray_run_name") is True and compat.accepts("preserve_thinking") is False
    assert compat.unknown_keys(["learning_rate", "preserve_thinking", "ppo_kl_coef"]) == ["preserve_thinking",
                                                                                         "ppo_kl_coef"]
    assert compat.unknown_keys(SPEC_YAML_KEYS) == ["enable_liger_kernel", "ppo_kl_coef"]
    assert "enable_liger_kernel" not in build_plan(config, demo_ws).yaml_config  # its default would be refused
    ppo = {**config, "stage": "ppo", "reward_model": "saves/rm"}
    assert build_plan(ppo, demo_ws).yaml_config["ppo_kl_coef"] == 0.05  # medtui's engine reads it

    installed(fake_llamafactory(tmp_path / "b", extra=("preserve_thinking",)))
    assert compat.accepts("ray_run_name") is False and compat.accepts("preserve_thinking") is True
    assert compat.unknown_keys(SPEC_YAML_KEYS) == ["ppo_kl_coef"]
    assert build_plan(config, demo_ws).yaml_config["enable_liger_kernel"] is False


def test_an_unreadable_parser_filters_nothing(tmp_path, installed, demo_ws):
    root = fake_llamafactory(tmp_path / "a", lacks=("enable_liger_kernel",))
    (root / "llamafactory" / "hparams" / "parser.py").write_text("TRAIN = build_lists()\n")  # lists moved elsewhere
    installed(root)
    assert compat.accepts("learning_rate") is None and compat.unknown_keys(["bogus"]) == []
    config = {"stage": "sft", "model_name_or_path": "models/m", "dataset": "d"}
    plan = build_plan(config, demo_ws)
    assert "enable_liger_kernel" in plan.yaml_config
    # pre-flight does not refuse every key of a run on the word of a parser it could not read
    (problem,) = check_arguments(plan)
    assert problem.level == "warn" and "argument names not checked" in problem.message


def test_choices_follow_the_installed_literal(tmp_path, installed):
    installed(fake_llamafactory(tmp_path / "a", mix_strategy=("concat", "interleave_under", "interleave_over")))
    assert compat.choices("mix_strategy") == ("concat", "interleave_under", "interleave_over")
    installed(fake_llamafactory(tmp_path / "b", mix_strategy=("concat", "interleave_under", "interleave_over",
                                                                "interleave_once")))
    assert compat.choices("mix_strategy")[-1] == "interleave_once"
    assert compat.choices("learning_rate") is None and compat.choices("no_such_key") is None
    assert compat.choices("badam_mode") == ("layer", "ratio") and compat.choices("mixture_of_depths") == ("convert",)


# -- templates --------------------------------------------------------------------------------------
def test_templates_follow_the_installed_registry(tmp_path, installed):
    model = tmp_path / "TeleChat2-7B"
    model.mkdir()
    # 0.9.4 registers baichuan2; 0.9.5 dropped it and added qwen3_5. A template the installed version
    # lacks (telechat2 in the second tree) is never suggested.
    installed(fake_llamafactory(tmp_path / "a", templates=("default", "baichuan2", "telechat2")))
    assert compat.templates() == {"default", "baichuan2", "telechat2"}
    known = modelcheck.llamafactory_templates()
    assert modelcheck.suggest_template({"model_type": "telechat"}, model, known)[0] == "telechat2"
    installed(fake_llamafactory(tmp_path / "b", templates=("default", "qwen3_5")))
    assert "baichuan2" not in compat.templates() and "qwen3_5" in compat.templates()
    known = modelcheck.llamafactory_templates()
    assert modelcheck.suggest_template({"model_type": "telechat"}, model, known)[0] == "default"


# -- PPO ----------------------------------------------------------------------------------------------
def test_ppo_requirement_is_the_trainers_pin_or_the_packages_trl_range(tmp_path, installed, monkeypatch):
    monkeypatch.setattr(compat, "declared_requirement", lambda name: "trl<=0.9.6,>=0.8.6" if name == "trl" else None)
    # 0.9.4 and later pin the PPO trainer itself (and need trl>=0.18 elsewhere): medtui's engine runs on trl 0.24.
    installed(fake_llamafactory(tmp_path / "a", ppo_pin="trl>=0.8.6,<=0.9.6"))
    found = compat.ppo_trl_requirement()
    assert (found.requirement, found.origin) == ("trl>=0.8.6,<=0.9.6", "pin")
    assert ppo_mod.ppo_support().requirement == "trl>=0.8.6,<=0.9.6"
    # 0.9.3 has no pin in the trainer; the package declares trl<=0.9.6 and llamafactory's own PPO runs on it.
    installed(fake_llamafactory(tmp_path / "b", ppo_pin=None))
    found = compat.ppo_trl_requirement()
    assert (found.requirement, found.origin) == ("trl<=0.9.6,>=0.8.6", "declared")
    assert ppo_mod.decide(found.requirement, "0.9.6").uses_llamafactory
    assert not ppo_mod.decide(found.requirement, "0.24.0").uses_llamafactory
    assert checks.check_ppo(lf_dir=tmp_path / "b" / "llamafactory", trl_version="0.9.6").detail == (
        "llamafactory's PPO supports this trl (0.9.6 satisfies trl<=0.9.6,>=0.8.6)")
    # no PPO trainer at all
    assert compat.ppo_trl_requirement(tmp_path / "nowhere").trainer is None


def test_trl_pin_and_declared_range_of_the_real_package():
    assert compat.trl_pin('require_version(\n    "trl>=0.8.6, <=0.9.6",\n    "msg")') == "trl>=0.8.6,<=0.9.6"
    assert compat.trl_pin("import trl\n") is None
    declared = compat.declared_requirement("trl")
    assert declared and declared.startswith("trl") and Requirement(declared).specifier
    assert compat.declared_requirement("no-such-dependency") is None


# -- LlamaBoard ---------------------------------------------------------------------------------------
def test_llamaboard_elements_follow_the_installed_components(tmp_path, installed):
    # 0.9.5's train tab added the Trackio settings (project, trackio_space_id); 0.9.4's has none.
    installed(fake_llamafactory(tmp_path / "a", train_tab=("learning_rate", "report_to")))
    assert compat.llamaboard_elements()["train"] == ["learning_rate", "report_to"]
    installed(fake_llamafactory(tmp_path / "b", train_tab=("learning_rate", "report_to", "project", "trackio_space_id")))
    assert {"project", "trackio_space_id"} <= set(compat.llamaboard_elements()["train"])


# -- the real installed package ---------------------------------------------------------------------
def test_this_environments_llamafactory_takes_every_spec_argument():
    assert compat.version_status().in_range
    assert compat.unknown_keys(SPEC_YAML_KEYS) == ["ppo_kl_coef"]  # medtui's own PPO engine setting
    assert compat.accepts("learning_rate") and compat.accepts("export_dir", "export")
    assert compat.templates() and "default" in compat.templates()
    assert "train" in compat.llamaboard_elements()
