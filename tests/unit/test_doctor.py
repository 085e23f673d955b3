"""The environment doctor, against this machine and against fake environments.

Fake environments are real interpreters with a different ``sys.path``: dist-info metadata folders
on PYTHONPATH (TensorFlow + Keras 3), a stub ``pynvml`` whose init fails, and ``python -S`` with a
copy of site-packages (symlinks) that leaves llamafactory out.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medtui.core.env import checks as doctor_checks
from medtui.core.env import doctor, runenv
from medtui.core.stages.builder import build_plan
from medtui.core.workspace import Workspace
from tests.conftest import ROOT, medtui_cli


def _dist(folder: Path, name: str, version: str, requires: list[str] = ()) -> None:
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


@pytest.fixture
def ws(tmp_path) -> Workspace:
    ws = Workspace.open(tmp_path / "ws")
    ws.ensure_layout()
    return ws


@pytest.fixture
def user_config(tmp_path, monkeypatch) -> Path:
    """A private XDG config home, so a USE_TF fix never leaks into other tests."""
    path = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(path))
    return path


def _doctor_json(ws, *args, env=None, python_flags=()) -> tuple[int, dict]:
    argv = [sys.executable, *python_flags, "-m", "medtui", "doctor", "--json", "--workspace", str(ws.root), *args]
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [full.get("PYTHONPATH_EXTRA")])])
    proc = subprocess.run(argv, capture_output=True, text=True, env=full, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, {r["id"]: r for r in json.loads(proc.stdout)}


@pytest.fixture
def fake_tf(tmp_path) -> Path:
    """TensorFlow 2.16 + Keras 3 metadata; importing the fake tensorflow would fail loudly."""
    folder = tmp_path / "fake-tf"
    _dist(folder, "tensorflow", "2.16.1")
    _dist(folder, "keras", "3.3.3")
    (folder / "tensorflow").mkdir()
    (folder / "tensorflow" / "__init__.py").write_text("raise RuntimeError('the doctor imported tensorflow')\n")
    return folder


def test_keras3_clash_detected_without_importing_tensorflow(ws, fake_tf, user_config):
    code, res = _doctor_json(ws, "--only", "keras", env={"PYTHONPATH_EXTRA": str(fake_tf)})
    keras = res["keras"]
    # transformers 5.x (installed here) no longer loads TensorFlow: a warning, with both fixes offered
    assert keras["status"] == "warn" and code == 0
    assert "TensorFlow 2.16.1 is installed with Keras 3.3.3 and without tf-keras" in keras["detail"]
    assert "USE_TF=0" in keras["fix"] and "-m pip install tf-keras" in keras["fix"]


def test_keras3_clash_fails_with_transformers_4_and_use_tf_fixes_it(ws, fake_tf, user_config):
    _dist(fake_tf, "transformers", "4.44.0")  # shadows the real one for metadata
    env = {"PYTHONPATH_EXTRA": str(fake_tf), "XDG_CONFIG_HOME": str(user_config)}
    code, res = _doctor_json(ws, "--only", "keras", env=env)
    assert res["keras"]["status"] == "fail" and code == 1
    assert "transformers 4.44.0 fails to import" in res["keras"]["detail"]

    fix = medtui_cli("doctor", "--fix", "use-tf", env={"XDG_CONFIG_HOME": str(user_config)})
    assert fix.returncode == 0 and "set USE_TF=0" in fix.stdout
    assert json.loads((user_config / "medtui" / "run-env.json").read_text()) == {"USE_TF": "0"}
    code, res = _doctor_json(ws, "--only", "keras", env=env)
    assert res["keras"]["status"] == "ok" and code == 0
    assert "USE_TF=0 is set for medtui's runs" in res["keras"]["detail"]

    medtui_cli("doctor", "--fix", "no-use-tf", env={"XDG_CONFIG_HOME": str(user_config)})
    _dist(fake_tf, "tf-keras", "2.16.0")
    code, res = _doctor_json(ws, "--only", "keras", env=env)
    assert res["keras"]["status"] == "ok" and "tf-keras 2.16.0 is installed" in res["keras"]["detail"]


def test_use_tf_reaches_the_run_plan(ws, user_config):
    config = {"stage": "sft", "model_name_or_path": "models/m", "dataset": "d", "template": "default",
              "output_dir": "out"}
    assert "USE_TF" not in build_plan(config, ws).env
    doctor.set_use_tf(True)
    plan = build_plan(config, ws)
    assert plan.env["USE_TF"] == "0" and "USE_TF=0" in plan.command_line()
    assert doctor.use_tf_disabled()
    doctor.set_use_tf(False)
    assert "USE_TF" not in build_plan(config, ws).env


def test_run_env_file_errors_are_clear(ws, user_config):
    path = runenv.user_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert runenv.load() == {}  # a broken file never breaks runs
    with pytest.raises(Exception, match="run-env.json: not a valid JSON file"):
        runenv.set_var("USE_TF", "0")
    assert path.read_text() == "{not json"  # and is never overwritten
    with pytest.raises(Exception, match="not an environment variable name"):
        runenv.set_var("BAD NAME", "1", ws=ws)
    runenv.set_var("USE_TF", "0", ws=ws)
    assert runenv.load(ws) == {"USE_TF": "0"}


@pytest.fixture(scope="module")
def site_without_llamafactory(tmp_path_factory) -> Path:
    """site-packages as symlinks, minus llamafactory (package and metadata)."""
    folder = tmp_path_factory.mktemp("site-no-lf")
    for real in site.getsitepackages():
        for entry in Path(real).iterdir():
            if entry.name.lower().startswith("llamafactory") or entry.suffix == ".pth":
                continue
            if not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return folder


def test_missing_llamafactory(ws, site_without_llamafactory):
    code, res = _doctor_json(ws, "--only", "python,llamafactory,transformers,ppo", python_flags=["-S"],
                             env={"PYTHONPATH_EXTRA": str(site_without_llamafactory)})
    assert code == 1
    assert res["llamafactory"]["status"] == "fail"
    assert "llamafactory is not installed" in res["llamafactory"]["detail"]
    assert "-m pip install 'llamafactory>=" in res["llamafactory"]["fix"]  # the tested range
    assert res["transformers"]["status"] == "warn" and "no range to compare" in res["transformers"]["detail"]
    assert "llamafactory's PPO trainer was not found" in res["ppo"]["detail"]
    assert res["python"]["status"] == "ok"


def test_no_nvml(ws, tmp_path):
    stub = tmp_path / "stub-nvml"
    stub.mkdir()
    (stub / "pynvml.py").write_text(
        "class NVMLError(Exception):\n    pass\n"
        "def nvmlInit():\n    raise NVMLError('NVML Shared Library Not Found')\n")
    code, res = _doctor_json(ws, "--only", "gpus", env={"PYTHONPATH_EXTRA": str(stub)})
    assert res["gpus"]["status"] == "warn" and code == 0
    assert "no GPU / NVML not available (NVML Shared Library Not Found)" in res["gpus"]["detail"]


def test_full_doctor_on_this_machine(ws):
    proc = medtui_cli("doctor", "--json", "--workspace", str(ws.root))
    results = json.loads(proc.stdout)
    assert [r["id"] for r in results] == list(doctor.TITLES)
    assert all(set(r) == {"id", "title", "status", "detail", "fix"} for r in results)
    assert all(r["status"] in doctor.STATUSES for r in results)
    by_id = {r["id"]: r for r in results}
    assert by_id["torch"]["status"] in ("ok", "warn") and "torch " in by_id["torch"]["detail"]
    assert by_id["workspace"]["status"] == "ok"
    assert proc.returncode == (1 if any(r["status"] == "fail" for r in results) else 0)


def test_human_output_and_bad_input(ws):
    proc = medtui_cli("doctor", "--only", "python,workspace", "--workspace", str(ws.root), "--lang", "zh")
    assert proc.returncode == 0
    assert "工作区可写" in proc.stdout and "2 ok, 0 warning(s), 0 failed" in proc.stdout
    bad = medtui_cli("doctor", "--only", "python,nope")
    assert bad.returncode == 2 and "unknown check(s) nope" in bad.stderr
    assert medtui_cli("doctor", "--timeout", "0").returncode == 2
    noconfirm = medtui_cli("doctor", "--fix", "tf-keras")  # stdin is not a terminal: never installs silently
    assert noconfirm.returncode == 2 and "pass --yes to confirm" in noconfirm.stderr
    assert "-m pip install tf-keras" in noconfirm.stderr


def _script_probe(tmp_path, body: str) -> list[str]:
    script = tmp_path / "probe.py"
    script.write_text(body)
    return [sys.executable, str(script)]


def test_results_arrive_progressively_and_probe_problems_are_reported(ws, tmp_path):
    probe = _script_probe(tmp_path, "import json, time\ntime.sleep(1.0)\n"
                          "print(json.dumps({'id': 'torch', 'status': 'ok', 'detail': 'torch 9 (fake)'}), flush=True)\n"
                          "time.sleep(30)\n")
    start = time.monotonic()
    seen = []
    for res in doctor.iter_checks(ws, only=["python", "torch", "cuda", "workspace"], timeout=3, argv=probe):
        seen.append((res.id, res.status, round(time.monotonic() - start, 1), res.detail))
    assert [s[0] for s in seen] == ["python", "workspace", "torch", "cuda"]
    assert seen[0][2] < 1.0 <= seen[2][2]  # quick checks did not wait for the probe
    assert seen[2][3] == "torch 9 (fake)"
    assert seen[3][1] == "warn" and "no answer within 3 s" in seen[3][3]

    crash = _script_probe(tmp_path, "import sys\nsys.stderr.write('boom\\n')\nsys.exit(3)\n")
    results = doctor.run_checks(ws, only=["bf16"], argv=crash)
    assert results[0].status == "fail" and "ended early (exit 3): boom" in results[0].detail


def test_ppo_paths(tmp_path):
    lf = tmp_path / "llamafactory"
    (lf / "train" / "ppo").mkdir(parents=True)
    (lf / "train" / "ppo" / "trainer.py").write_text(
        'require_version(\n    "trl>=0.8.6,<=0.9.6",\n    "Incompatible TRL version")\n')
    trl = tmp_path / "trl"
    (trl / "trainer").mkdir(parents=True)
    (trl / "trainer" / "ppo_trainer.py").write_text("class PPOTrainer: ...\n")
    (trl / "__init__.py").write_text('_import_structure = {"trainer": ["PPOTrainer"]}\n')

    old = doctor_checks.check_ppo(lf_dir=lf, trl_dir=trl, trl_version="0.9.6", engine=False)
    assert old.status == "ok" and old.detail == "llamafactory's PPO supports this trl (0.9.6 satisfies trl>=0.8.6,<=0.9.6)"
    new = doctor_checks.check_ppo(lf_dir=lf, trl_dir=trl, trl_version="0.24.0", engine=True)
    assert new.status == "ok"
    assert new.detail.startswith("medtui's TRL PPOTrainer path runs (trl 0.24.0 has trl.PPOTrainer)")
    assert "llamafactory's PPO needs trl>=0.8.6,<=0.9.6" in new.detail
    no_engine = doctor_checks.check_ppo(lf_dir=lf, trl_dir=trl, trl_version="0.24.0", engine=False)
    assert no_engine.status == "warn" and "medtui.engines.ppo_train" in no_engine.detail
    (trl / "trainer" / "ppo_trainer.py").unlink()
    neither = doctor_checks.check_ppo(lf_dir=lf, trl_dir=trl, trl_version="0.24.0", engine=True)
    assert neither.status == "warn" and neither.detail.startswith("no PPO path works")
    assert doctor_checks.check_ppo(trl_version=None).status == "warn"
    # the real llamafactory source is read as text
    real = doctor_checks.llamafactory_ppo_requirement(doctor_checks.module_dir("llamafactory"))
    assert real == ">=0.8.6,<=0.9.6"
    assert doctor_checks.trl_ppo_trainer(doctor_checks.module_dir("trl")) == "trl.PPOTrainer"
    assert "llamafactory" not in sys.modules and "trl" not in sys.modules
    assert doctor_checks.engine_available("medtui.workers.doctor_probe")  # found as a file, never imported
    assert not doctor_checks.engine_available("medtui.core.no_such_engine")


def test_package_ranges():
    ranges = {"transformers": ">=4.55.0,<=5.6.0"}
    assert doctor_checks.check_package("transformers", ranges).status in ("ok", "warn")
    assert doctor_checks.check_package("no-such-package-xyz", ranges).status == "fail"
    assert doctor_checks.satisfies("5.6.0", ">=4.55.0,<=5.6.0") and not doctor_checks.satisfies("5.7.0", "<=5.6.0")
    declared = doctor_checks.declared_ranges()
    assert declared is not None and "trl" in declared and "<=" in declared["trl"]


def test_run_command_streams_output():
    lines: list[str] = []
    code = doctor.run_command([sys.executable, "-c", "import sys; print('a'); print('b', file=sys.stderr); sys.exit(4)"],
                              lines.append)
    assert code == 4 and lines == ["a", "b"]
    assert doctor.tf_keras_command() == [sys.executable, "-m", "pip", "install", "tf-keras"]
