"""``medtui model check PATH`` and ``medtui model list``: local model folders."""

from __future__ import annotations

import argparse
import json

from medtui.cli.common import EXIT_FAILED, EXIT_OK, workspace_from


def register(sub, common) -> None:
    p = sub.add_parser("model", parents=[common], help="check local model folders (files, size, template)")
    actions = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", parents=[common], help="check a model folder and suggest its template",
                               description="Check that config.json, the tokenizer and the weights are present, load "
                                           "config and tokenizer in a subprocess, and show architecture, parameters, "
                                           "dtype, context length and the llamafactory template. 验证模型。")
    check.add_argument("path", metavar="PATH", help="model folder (relative paths resolve against the workspace)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--no-load", action="store_true", help="skip loading with transformers (files only)")
    check.add_argument("--timeout", type=float, default=180.0, metavar="S", help="seconds for loading (default 180)")
    check.set_defaults(func=cmd_check)
    lst = actions.add_parser("list", parents=[common], help="list model folders under models/ and saves/")
    lst.set_defaults(func=cmd_list)


def cmd_check(args: argparse.Namespace) -> int:
    from medtui.core.hub.modelcheck import inspect

    ws = workspace_from(args)
    report = inspect(ws.resolve(args.path), load=not args.no_load, timeout=args.timeout)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(f"{report.path}: {report.status}")
        for label, value in report.rows():
            print(f"  {label:<15} {value}")
        for problem in report.problems:
            print(f"  FAIL  {problem}")
        for warning in report.warnings:
            print(f"  WARN  {warning}")
    return EXIT_FAILED if report.status == "fail" else EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    ws = workspace_from(args)
    folders = ws.model_dirs()
    if not folders:
        print(f"no model folders under {ws.relative(ws.models_dir)} or {ws.relative(ws.saves_dir)} "
              "(download one with: medtui download model qwen/Qwen2-0.5B)")
    for folder in folders:
        print(ws.relative(folder))
    return EXIT_OK
