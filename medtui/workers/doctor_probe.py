"""The doctor's heavy checks: ``python -m medtui.workers.doctor_probe``.

Imports torch (seconds) in its own process and prints one JSON line per check as soon as it
is known: ``torch``, then ``cuda``, then ``bf16``. The doctor reads them with a timeout.
"""

from __future__ import annotations

import json
import sys
import time


def emit(check_id: str, status: str, detail: str, fix: str = "") -> None:
    print(json.dumps({"id": check_id, "status": status, "detail": detail, "fix": fix}), flush=True)


def main() -> int:
    start = time.monotonic()
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken install raising anything else
        emit("torch", "fail", f"cannot import torch: {type(exc).__name__}: {exc}",
             f"{sys.executable} -m pip install torch  (see pytorch.org for the CUDA build that fits your driver)")
        emit("cuda", "fail", "skipped: torch does not import")
        emit("bf16", "fail", "skipped: torch does not import")
        return 0
    took = time.monotonic() - start
    cuda_build = getattr(torch.version, "cuda", None)
    build = f"CUDA {cuda_build} build" if cuda_build else "CPU-only build"
    if cuda_build:
        emit("torch", "ok", f"torch {torch.__version__} ({build}); import took {took:.1f} s")
    else:
        emit("torch", "warn", f"torch {torch.__version__} ({build}): training runs on the CPU only",
             "install a CUDA build of torch that matches your driver (see pytorch.org)")

    available = bool(torch.cuda.is_available())
    if available:
        count = torch.cuda.device_count()
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(count))
        emit("cuda", "ok", f"torch.cuda.is_available() is True: {count} device(s): {names}")
    else:
        why = "no NVIDIA GPU or driver visible" if cuda_build else "torch has no CUDA support"
        emit("cuda", "warn", f"torch.cuda.is_available() is False ({why}); runs use the CPU (fine for the demo only)",
             "check nvidia-smi and CUDA_VISIBLE_DEVICES" if cuda_build else "install a CUDA build of torch")

    if available:
        if torch.cuda.is_bf16_supported():
            emit("bf16", "ok", "bf16 is supported (torch.cuda.is_bf16_supported())")
        else:
            emit("bf16", "warn", "this GPU cannot train in bf16", "set bf16: false and fp16: true in your configs")
    else:
        emit("bf16", "warn", "no CUDA device, so no bf16 training; CPU runs use fp32",
             "bf16 needs an Ampere (compute capability 8.0) or newer GPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
