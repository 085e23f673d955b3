"""The installed llamafactory's arguments, templates and LlamaBoard elements, read from its source."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from medtui.core.env import llamafactory_source as lfs

#: the module's tests share one import of llamafactory (``truth``), so under xdist they share a worker
pytestmark = pytest.mark.xdist_group("llamafactory-truth")

TRUTH = r"""
import dataclasses, json
from llamafactory.hparams import parser
from llamafactory.data.template import TEMPLATES
def names(classes):
    return sorted({f.name for c in classes for f in dataclasses.fields(c)})
from llamafactory.webui.engine import Engine
from llamafactory.webui import interface
ids = []
_orig = Engine.__init__
def _keep(self, *a, **k):
    _orig(self, *a, **k)
    ids.append(self.manager)
Engine.__init__ = _keep
interface.create_ui()
elements = sorted(i for i in ids[0]._id_to_elem if not i.startswith("head."))
print(json.dumps({"train": names(parser._TRAIN_ARGS), "export": names(parser._INFER_ARGS),
                  "eval": names(parser._EVAL_ARGS), "templates": sorted(TEMPLATES), "elements": elements}))
"""


@pytest.fixture(scope="module")
def truth():
    """What llamafactory itself says, imported in a subprocess (the only place it is imported)."""
    proc = subprocess.run([sys.executable, "-c", TRUTH], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_argument_fields_match_llamafactorys_own_parser(truth):
    for command in ("train", "export", "eval"):
        assert sorted(lfs.argument_fields(command)) == truth[command], command


def test_templates_match_llamafactorys_registry(truth):
    assert list(lfs.templates()) == truth["templates"]


def test_fields_carry_owner_default_and_help():
    fields = lfs.argument_fields("train")
    assert fields["lora_rank"].owner == "LoraArguments" and fields["lora_rank"].default == "8"
    assert fields["learning_rate"].owner == "TrainingArguments" and "learning rate" in fields["learning_rate"].help.lower()
    assert fields["dataset_dir"].default == "'data'"


def test_webui_elements_are_llamaboards_own(truth):
    """The same element names LlamaBoard's manager registers (it files the chat box under ``infer`` and the
    dataset preview under ``train``/``eval``; medtui reads them per component file)."""
    read = {name for names in lfs.webui_elements().values() for name in names}
    real = {element.split(".", 1)[1] for element in truth["elements"]}
    assert read == real
    assert {"train.learning_rate", "top.booster", "infer.temperature"} <= set(truth["elements"])


def test_webui_elements_per_component():
    elements = lfs.webui_elements()
    assert {"top", "train", "export"} <= set(elements)
    assert {"learning_rate", "lora_rank", "cutoff_len"} <= set(elements["train"])
    assert "finetuning_type" in elements["top"]


def test_suggestions_for_misspelt_keys():
    fields = lfs.argument_fields("train")
    assert lfs.suggest("learnig_rate", fields)[0] == "learning_rate"
    assert lfs.suggest("zzzz_qqqq", fields) == []


def test_results_are_cached_on_disk(monkeypatch):
    lfs.facts()
    lfs._facts.cache_clear()

    def boom(install):
        raise AssertionError("parsed again despite the cache")

    monkeypatch.setattr(lfs, "_read_all", boom)
    assert "lora_rank" in lfs.argument_fields("train")


def test_missing_llamafactory_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(lfs, "_package_dir", lambda name: None)
    assert lfs.locate() is None
    with pytest.raises(lfs.SourceUnavailable, match="llamafactory is not installed"):
        lfs.templates()
    with pytest.raises(ValueError, match="unknown command"):
        lfs.argument_fields("bogus")


def test_reading_imports_nothing_heavy():
    code = ("import sys, json; from medtui.core.env import llamafactory_source as s; s.argument_fields(); "
            "print(json.dumps([m for m in ('torch','transformers','llamafactory') if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
