"""The doctor's quick checks: package metadata, files and NVML only, nothing heavy is imported.

Each function returns a :class:`~medtui.core.env.results.CheckResult`. Installed versions come from
``importlib.metadata`` and module locations from ``importlib.util.find_spec`` of top-level
packages, which never runs the package (so TensorFlow, llamafactory and trl stay unimported).
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path

from medtui.core.env import runenv
from medtui.core.env.gpu import snapshot
from medtui.core.env.results import CheckResult, result

TF_DISTS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos", "tensorflow-intel",
            "tensorflow-aarch64", "tf-nightly", "tf-nightly-cpu")
RANGED_PACKAGES = ("transformers", "peft", "trl", "datasets", "accelerate")
GIB = 1024 ** 3
DISK_FAIL, DISK_WARN = 2 * GIB, 20 * GIB


def pip_command(*args: str) -> str:
    return " ".join([sys.executable, "-m", "pip", *args])


def dist_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def module_dir(name: str) -> Path | None:
    """Where a top-level package lives, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if locations:
        return Path(locations[0])
    return Path(spec.origin).parent if spec.origin else None


def declared_ranges(package: str = "llamafactory") -> dict[str, str] | None:
    """``{dependency: specifier}`` from a package's metadata, or None when it is not installed."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requires = md.requires(package) or []
    except md.PackageNotFoundError:
        return None
    ranges: dict[str, str] = {}
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an optional extra, not a hard dependency
        ranges[_canon(req.name)] = str(req.specifier)
    return ranges


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def satisfies(version: str, specifier: str) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) in SpecifierSet(specifier, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


# -- checks -------------------------------------------------------------------------------------
def check_python() -> CheckResult:
    version = platform.python_version()
    detail = f"Python {version} ({platform.python_implementation()}) at {sys.executable}"
    needed = None
    try:
        needed = md.metadata("llamafactory").get("Requires-Python")
    except md.PackageNotFoundError:
        pass
    if needed and not satisfies(version, needed):
        return result("python", "fail", f"{detail}; llamafactory needs Python {needed}",
                      f"use a Python {needed} interpreter")
    if needed:
        detail += f"; llamafactory needs {needed}"
    return result("python", "ok", detail)


def llamafactory_cli_path() -> tuple[str | None, bool]:
    """The llamafactory-cli medtui runs (beside this interpreter, else on PATH) and whether it is on PATH."""
    on_path = shutil.which("llamafactory-cli")
    beside = Path(sys.executable).with_name("llamafactory-cli")
    if beside.exists():
        return str(beside), on_path is not None
    return on_path, on_path is not None


def check_llamafactory(version: str | None | bool = True) -> CheckResult:
    """llamafactory's version and location, whether it is in medtui's tested range, and its CLI.

    ``version`` stands in for the installed version (tests); the package itself must be installed.
    """
    from medtui.core.env import llamafactory_compat as compat

    version = dist_version("llamafactory") if version is True else version
    location = module_dir("llamafactory")
    if version is None or location is None:
        return result("llamafactory", "fail", f"llamafactory is not installed for {sys.executable}",
                      pip_command("install", repr(compat.PIP_RANGE)))
    status = compat.version_status(version)
    detail = f"llamafactory {version} at {location}: {status.reason()}"
    cli, on_path = llamafactory_cli_path()
    if cli is None:
        return result("llamafactory", "fail", f"{detail}; llamafactory-cli was not found beside Python or on PATH",
                      pip_command("install", "--force-reinstall", "--no-deps", f"llamafactory=={version}"))
    path_cli = shutil.which("llamafactory-cli")
    if not on_path:
        detail += f"; medtui runs {cli} (not on PATH)"
    elif path_cli and Path(path_cli).resolve() != Path(cli).resolve():
        detail += f"; medtui runs {cli} (PATH has another: {path_cli})"
    else:
        detail += f"; llamafactory-cli: {cli}"
    if not status.in_range:
        return result("llamafactory", "warn", detail,
                      pip_command("install", repr(compat.PIP_RANGE)) + "  (or keep it, at your own risk)")
    return result("llamafactory", "ok", detail)


def check_package(name: str, ranges: dict[str, str] | None) -> CheckResult:
    installed = dist_version(name)
    if installed is None:
        spec = (ranges or {}).get(_canon(name), "")
        return result(name, "fail", f"{name} is not installed", pip_command("install", f"'{name}{spec}'"))
    if ranges is None:
        return result(name, "warn", f"{name} {installed}; llamafactory is not installed, so there is no range to "
                                    "compare with")
    spec = ranges.get(_canon(name))
    if not spec:
        return result(name, "ok", f"{name} {installed} (llamafactory declares no range)")
    if satisfies(installed, spec):
        return result(name, "ok", f"{name} {installed} is within llamafactory's range {spec}")
    return result(name, "warn", f"{name} {installed} is outside llamafactory's declared range {spec}",
                  f"{pip_command('install', repr(name + spec))}  (or set DISABLE_VERSION_CHECK=1 at your own risk)")


def keras_state() -> dict[str, str | None]:
    """TensorFlow, Keras and tf-keras versions from metadata; TensorFlow is never imported."""
    tf = next((v for v in map(dist_version, TF_DISTS) if v), None)
    if tf is None and module_dir("tensorflow") is not None:
        tf = "unknown version"
    tf_keras = dist_version("tf-keras") or dist_version("tf_keras")
    if tf_keras is None and module_dir("tf_keras") is not None:
        tf_keras = "unknown version"
    return {"tensorflow": tf, "keras": dist_version("keras"), "tf_keras": tf_keras,
            "transformers": dist_version("transformers")}


def _major(version: str | None) -> int | None:
    match = re.match(r"(\d+)", version or "")
    return int(match.group(1)) if match else None


def check_keras(ws=None) -> CheckResult:
    state = keras_state()
    tf, keras, tf_keras = state["tensorflow"], state["keras"], state["tf_keras"]
    if tf is None:
        return result("keras", "ok", "TensorFlow is not installed, so there is no Keras clash")
    if (_major(keras) or 0) < 3:
        return result("keras", "ok", f"TensorFlow {tf} with Keras {keras or 'not installed'}: no Keras 3 clash")
    if tf_keras:
        return result("keras", "ok", f"TensorFlow {tf} with Keras {keras}, and tf-keras {tf_keras} is installed")
    clash = f"TensorFlow {tf} is installed with Keras {keras} and without tf-keras"
    run_env = runenv.load(ws)
    if run_env.get("USE_TF") in ("0", "false", "False", "FALSE", "no"):
        return result("keras", "ok", f"{clash}; USE_TF=0 is set for medtui's runs, so transformers skips TensorFlow",
                      "", actions=("use-tf", "tf-keras"))
    fix = (f"set USE_TF=0 for medtui's runs (medtui doctor --fix use-tf), or install tf-keras: "
           f"{pip_command('install', 'tf-keras')} (medtui doctor --fix tf-keras)")
    transformers = state["transformers"]
    if (_major(transformers) or 0) >= 5:
        return result("keras", "warn", f"{clash}. transformers {transformers} no longer loads TensorFlow, so it "
                                       "imports; transformers 4.x and tools built on it fail with the Keras 3 error",
                      fix, actions=("use-tf", "tf-keras"))
    return result("keras", "fail", f"{clash}: transformers {transformers or ''} fails to import (Keras 3 is not "
                                   "supported by Transformers)".replace("  ", " "), fix, actions=("use-tf", "tf-keras"))


PPO_ENGINE = "medtui.engines.ppo_train"


def llamafactory_ppo_requirement(lf_dir: Path | None) -> str | None:
    """The trl specifier llamafactory's own PPO needs (``>=0.8.6,<=0.9.6``), read, never imported."""
    from medtui.core.env.llamafactory_compat import ppo_trl_requirement

    found = ppo_trl_requirement(lf_dir)
    return found.requirement[3:] if found.requirement else None


def trl_ppo_trainer(trl_dir: Path | None) -> str | None:
    """The public name of TRL's PPOTrainer in this trl, found from its files without importing trl."""
    if trl_dir is None:
        return None
    init = trl_dir / "__init__.py"
    try:
        exported = '"PPOTrainer"' in init.read_text(encoding="utf-8")
    except OSError:
        exported = False
    if (trl_dir / "trainer" / "ppo_trainer.py").is_file() and exported:
        return "trl.PPOTrainer"
    if (trl_dir / "experimental" / "ppo" / "ppo_trainer.py").is_file():
        return "trl.experimental.ppo.PPOTrainer"
    return None


def engine_available(name: str = PPO_ENGINE) -> bool:
    """Whether medtui ships the module, found as a file (importing its package could pull in trl)."""
    package = Path(__file__).resolve().parents[2]  # the medtui package
    return (package.parent / (name.replace(".", "/") + ".py")).is_file()


def check_ppo(*, lf_dir: Path | None | str = "auto", trl_dir: Path | None | str = "auto",
              trl_version: str | None | bool = True, engine: bool | None = None) -> CheckResult:
    """Which PPO path runs: llamafactory's (needs an old trl) or medtui's on TRL's PPOTrainer."""
    lf_dir = module_dir("llamafactory") if lf_dir == "auto" else lf_dir
    trl_dir = module_dir("trl") if trl_dir == "auto" else trl_dir
    version = dist_version("trl") if trl_version is True else trl_version
    engine = engine_available() if engine is None else engine
    if not version:
        return result("ppo", "warn", "trl is not installed, so no PPO path can run", pip_command("install", "trl"))
    needed = llamafactory_ppo_requirement(Path(lf_dir) if lf_dir else None)
    if needed and satisfies(version, needed):
        return result("ppo", "ok", f"llamafactory's PPO supports this trl ({version} satisfies trl{needed})")
    lf_note = (f"llamafactory's PPO needs trl{needed}" if needed else
               "llamafactory's PPO trainer was not found" if lf_dir is None or not (Path(lf_dir) / "train" / "ppo").is_dir()
               else "llamafactory's PPO declares no trl range")
    trainer = trl_ppo_trainer(Path(trl_dir) if trl_dir else None)
    if trainer and engine:
        return result("ppo", "ok", f"medtui's TRL PPOTrainer path runs (trl {version} has {trainer}); {lf_note}")
    if trainer:
        return result("ppo", "warn", f"trl {version} has {trainer}, but medtui's PPO entry point ({PPO_ENGINE}) is "
                                     f"not part of this install; {lf_note}",
                      "update medtui to a version with the PPO stage")
    return result("ppo", "warn", f"no PPO path works: {lf_note}, and trl {version} has no PPOTrainer",
                  pip_command("install", "'trl>=0.18,<=0.24'"))


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(ws) -> CheckResult:
    where = _existing(ws.root)
    try:
        free = shutil.disk_usage(where).free
    except OSError as exc:
        return result("disk", "warn", f"cannot read free space for {where}: {exc}")
    text = f"{free / GIB:.1f} GiB free for {ws.root}"
    if free < DISK_FAIL:
        return result("disk", "fail", f"{text}; checkpoints will not fit", "free disk space or use another workspace")
    if free < DISK_WARN:
        return result("disk", "warn", f"{text}; full fine-tuning checkpoints of even a 0.5B model take several GiB",
                      "free disk space, lower save_total_limit, or use LoRA")
    return result("disk", "ok", text)


def check_workspace(ws) -> CheckResult:
    if not ws.root.is_dir():
        return result("workspace", "fail", f"workspace folder not found: {ws.root}", f"mkdir -p {ws.root}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".medtui-write-test-", dir=ws.root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return result("workspace", "fail", f"{ws.root} is not writable: {exc.strerror or exc}",
                      "fix the folder's permissions or choose another workspace")
    registry = ws.registry_path
    shape = "has data/dataset_info.json" if registry.exists() else "has no data/dataset_info.json yet"
    return result("workspace", "ok", f"{ws.root} is writable and {shape}")


def check_gpus() -> CheckResult:
    snap = snapshot()
    if not snap.gpus:
        return result("gpus", "warn", f"{snap.reason or 'no GPU'}; training runs on the CPU (the demo only)",
                      "install the NVIDIA driver and check nvidia-smi and CUDA_VISIBLE_DEVICES")
    parts = [f"GPU {g.index} {g.name} {g.memory_total / GIB:.0f} GiB ({g.memory_used / GIB:.1f} GiB used)"
             for g in snap.gpus]
    return result("gpus", "ok", "; ".join(parts) + f"; driver {snap.driver or '?'}, CUDA {snap.cuda or '?'}")
