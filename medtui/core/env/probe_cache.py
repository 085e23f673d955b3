"""The heavy checks' last answers, reused while nothing they depend on has changed.

Importing torch takes seconds (longer with CUDA), so the Environment screen shows the probe's
last answers at once when they are under a day old and their fingerprint still matches: this
Python, torch's install, the GPU driver and devices, the boot, and the variables that steer
imports and CUDA. Re-running the checks on the screen, and ``medtui doctor``, always ask torch
afresh and refresh this file (``$XDG_CACHE_HOME/medtui/doctor-probe.json``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from medtui.core.atomic import atomic_write_text
from medtui.core.env.child import PACKAGE_PARENT
from medtui.core.env.results import STATUSES, CheckResult, result
from medtui.core.userdirs import cache_dir

MAX_AGE = 24 * 3600.0
_ENV_NAMES = ("LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME", "USE_TF")
_ENV_PREFIXES = ("CUDA_", "NVIDIA_", "PYTORCH_", "TORCH_", "HIP_", "ROCR_", "TF_", "KERAS_")


def path() -> Path:
    return cache_dir() / "doctor-probe.json"


def fingerprint(env: dict[str, str]) -> str:
    """What the probe's answers depend on, hashed; ``env`` is the probe's environment."""
    parts = [os.path.realpath(sys.executable), sys.version, _torch_stamp(), _driver_stamp(), _boot_stamp()]
    steering = {k: v for k, v in env.items() if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)}
    if "PYTHONPATH" in steering:  # where medtui itself lives does not change torch's answers
        steering["PYTHONPATH"] = os.pathsep.join(p for p in steering["PYTHONPATH"].split(os.pathsep)
                                                 if p and p != PACKAGE_PARENT)
    parts += sorted(f"{k}={v}" for k, v in steering.items())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def _stat(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path}:-"
    return f"{path}:{st.st_mtime_ns}:{st.st_size}"


def _torch_stamp() -> str:
    """Where torch is installed and when it was last written, without importing it."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return "torch:none"
    init = Path(spec.origin)
    return "|".join(_stat(p) for p in (init, init.parent, init.parent / "version.py"))


def _driver_stamp() -> str:
    try:
        version = Path("/proc/driver/nvidia/version").read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        version = "no-driver"
    try:
        devices = sorted(name for name in os.listdir("/dev") if name.startswith("nvidia"))
    except OSError:
        devices = []
    return f"{version}|{','.join(devices)}"


def _boot_stamp() -> str:
    import psutil

    try:
        return f"boot:{psutil.boot_time():.0f}"
    except Exception:  # psutil raises its own errors on odd platforms
        return "boot:?"


def load(env: dict[str, str], wanted: list[str], *, now: float | None = None) -> list[CheckResult] | None:
    """The cached answers for ``wanted``, each with ``checked_at``; None when stale, missing or unreadable."""
    try:
        data = json.loads(path().read_text(encoding="utf-8"))
        checked_at = float(data["checked_at"])
        answers = {a["id"]: a for a in data["results"] if a.get("status") in STATUSES}
        if data["fingerprint"] != fingerprint(env):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    age = (now if now is not None else time.time()) - checked_at
    if not 0 <= age <= MAX_AGE or any(c not in answers for c in wanted):
        return None
    return [_restore(answers[c], checked_at) for c in wanted]


def _restore(answer: dict, checked_at: float) -> CheckResult:
    res = result(str(answer["id"]), answer["status"], str(answer.get("detail", "")), str(answer.get("fix", "")))
    return replace(res, checked_at=checked_at)


def save(env: dict[str, str], answers: list[CheckResult]) -> None:
    """Keep the probe's answers; a cache that cannot be written is no error."""
    data = {"fingerprint": fingerprint(env), "checked_at": time.time(), "results": [a.to_dict() for a in answers]}
    try:
        atomic_write_text(path(), json.dumps(data, ensure_ascii=False, indent=1))
    except OSError:
        pass
