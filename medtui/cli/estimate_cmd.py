"""``medtui estimate``: will this training config fit the GPUs? (memory, CPU RAM, disk, time)."""

from __future__ import annotations

import argparse
import json

from medtui.cli.common import EXIT_FAILED, EXIT_OK, workspace_from
from medtui.core.errors import MedtuiError


def register(sub, common) -> None:
    p = sub.add_parser(
        "estimate", parents=[common], help="estimate GPU memory, CPU RAM, disk and time of a training YAML",
        description="Estimate the per-GPU peak memory of a llamafactory training YAML from the model's "
                    "config.json alone (no weights, no torch), say whether it fits the visible GPUs, and "
                    "list fixes, least quality loss first. 从模型的 config.json 估算每张 GPU 的显存峰值,"
                    "判断是否放得下,并按质量损失从小到大给出调整建议。",
        epilog="Exit codes: 0 fits (or unknown), 1 does not fit, 2 bad input.")
    p.add_argument("config", metavar="CONFIG.yaml")
    p.add_argument("--gpus", type=int, default=None, metavar="N",
                   help="data-parallel GPUs (default: devices/nproc_per_node in the config, else the visible GPUs)")
    p.add_argument("--gpu-memory", type=float, default=None, metavar="GiB",
                   help="free memory per GPU in GiB when no GPU is visible (or to plan for another machine)")
    p.add_argument("--gpu-name", default=None, metavar="NAME",
                   help="GPU model for the time estimate, e.g. A100 or H100 (default: from NVML)")
    p.add_argument("--model-config", default=None, metavar="PATH",
                   help="the model's config.json (or its folder), to check before downloading the weights")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one argument (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_estimate)


def cmd_estimate(args: argparse.Namespace) -> int:
    from medtui.cli.train_cmd import _parse_overrides
    from medtui.core.estimate import estimate_config
    from medtui.core.stages.builder import load_config_file
    from medtui.core.stages.preflight import estimate_input_from_config

    if args.gpus is not None and args.gpus < 1:
        raise MedtuiError("--gpus must be at least 1")
    if args.gpu_memory is not None and args.gpu_memory <= 0:
        raise MedtuiError("--gpu-memory must be a positive number of GiB")
    ws = workspace_from(args)
    config = load_config_file(args.config)
    config.update(_parse_overrides(args.overrides))
    config, records = estimate_input_from_config(config, ws)
    est = estimate_config(config, gpus=args.gpus, gpu_memory_gib=args.gpu_memory, gpu_name=args.gpu_name,
                          model_config=args.model_config, records=records)
    if args.json:
        print(json.dumps(est.as_json(), indent=2))
    else:
        print("\n".join(est.lines()))
    return EXIT_FAILED if est.fits is False else EXIT_OK
