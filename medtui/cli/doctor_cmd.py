"""``medtui doctor``: check the environment, and apply its fixes headlessly."""

from __future__ import annotations

import argparse
import json
import sys

from medtui.cli.common import EXIT_FAILED, EXIT_OK
from medtui.core.errors import MedtuiError

FIXES = ("use-tf", "no-use-tf", "tf-keras")
MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def register(sub, common) -> None:
    p = sub.add_parser("doctor", parents=[common], help="check Python, LLaMA-Factory, torch/CUDA, GPUs and packages",
                       description="Check that this machine can run LLaMA-Factory through medtui. Exit 1 when a "
                                   "check fails. 检查运行环境。",
                       epilog="Checks: python, llamafactory, torch, cuda, gpus, bf16, transformers, peft, trl, "
                              "datasets, accelerate, keras, ppo, disk, workspace.")
    p.add_argument("--json", action="store_true", help="print a JSON list of {id, title, status, detail, fix}")
    p.add_argument("--only", metavar="ID[,ID]", help="run only these checks")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="seconds to wait for the torch/CUDA checks (default 120)")
    p.add_argument("--fix", choices=FIXES, help="use-tf: set USE_TF=0 for medtui's runs; no-use-tf: unset it; "
                                               "tf-keras: pip install tf-keras into this Python (asks first)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before installing")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from medtui.cli.common import workspace_from
    from medtui.core.env import doctor

    if args.fix:
        return _fix(args)
    only = [c.strip() for c in args.only.split(",") if c.strip()] if args.only else None
    doctor.check_ids(only)  # bad ids exit 2 before anything runs
    if args.timeout <= 0:
        raise MedtuiError("--timeout must be positive")
    ws = workspace_from(args)
    lang = getattr(args, "lang", "en")

    def show(res) -> None:
        print(f"{MARK[res.status]}  {doctor.title(res.id, lang):<22} {res.detail}", flush=True)
        if res.fix and res.status != "ok":
            print(f"{'':6}{'':<22} fix: {res.fix}", flush=True)

    results = doctor.run_checks(ws, on_result=None if args.json else show, only=only, timeout=args.timeout)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        counts = {s: sum(r.status == s for r in results) for s in doctor.STATUSES}
        print(f"{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed")
    return doctor.exit_code(results)


def _fix(args: argparse.Namespace) -> int:
    from medtui.core.env import doctor

    if args.fix in ("use-tf", "no-use-tf"):
        path = doctor.set_use_tf(args.fix == "use-tf")
        state = "set USE_TF=0" if args.fix == "use-tf" else "removed USE_TF"
        print(f"{state} for medtui's runs ({path})")
        return EXIT_OK
    argv = doctor.tf_keras_command()
    if not args.yes:
        if not sys.stdin.isatty():
            raise MedtuiError(f"will run: {' '.join(argv)}; pass --yes to confirm")
        answer = input(f"Run {' '.join(argv)} ? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing installed")
            return EXIT_OK
    print(f"$ {' '.join(argv)}", flush=True)
    code = doctor.run_command(argv, lambda line: print(line, flush=True))
    if code != 0:
        print(f"medtui: pip exited with {code}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
