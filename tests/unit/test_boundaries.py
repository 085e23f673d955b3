"""The layer boundaries: import-linter's contracts in pyproject.toml hold (static), and importing
all of medtui.core really leaves the libraries those contracts forbid unimported (run time)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

from tests.conftest import ROOT


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def _core_contract() -> dict:
    return next(c for c in _contracts() if c["type"] == "forbidden" and c["source_modules"] == ["medtui.core"])


def test_the_contracts_cover_the_rules_of_the_project():
    core = set(_core_contract()["forbidden_modules"])
    assert {"textual", "torch", "transformers", "llamafactory", "trl", "peft", "medtui.tui", "medtui.workers"} <= core
    ui = next(c for c in _contracts() if "medtui.tui" in c["source_modules"])
    assert {"medtui.workers", "medtui.engines", "torch", "llamafactory"} <= set(ui["forbidden_modules"])
    assert any(c["type"] == "acyclic_siblings" and c["ancestors"] == ["medtui.core"] for c in _contracts())


def test_import_linter_contracts_are_kept():
    proc = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                                                 "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_importing_all_of_core_loads_nothing_the_contract_forbids():
    forbidden = [m for m in _core_contract()["forbidden_modules"]]
    code = ("import importlib, json, pkgutil, sys, medtui.core\n"
            "names = [m.name for m in pkgutil.walk_packages(medtui.core.__path__, 'medtui.core.')]\n"
            "for name in names: importlib.import_module(name)\n"
            f"loaded = [m for m in {forbidden!r} if m in sys.modules]\n"
            "print(json.dumps({'modules': len(names), 'loaded': loaded}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["modules"] > 40 and out["loaded"] == []
