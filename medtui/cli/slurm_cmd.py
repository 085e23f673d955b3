"""``medtui slurm profile`` (the cluster profile: default Slurm options) and ``medtui slurm check``."""

from __future__ import annotations

import argparse
import json
import sys

from medtui.cli.common import EXIT_BAD_INPUT, EXIT_OK, workspace_from
from medtui.core.errors import MedtuiError


def register(sub, common) -> None:
    p = sub.add_parser("slurm", parents=[common], help="the Slurm cluster profile and a check of the cluster",
                       description="Runs go to Slurm with `medtui train CONFIG.yaml --slurm`; options not given "
                                   "there come from the cluster profile, per user (settings file) and per "
                                   "workspace (.medtui/config.json, which wins).")
    slurm_sub = p.add_subparsers(dest="slurm_command", metavar="ACTION", required=True)

    prof = slurm_sub.add_parser("profile", parents=[common], help="show or change the cluster profile")
    prof.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                      help="set a field: partition, nodes, gpus_per_node, time, account, cpus_per_task, "
                           "sbatch_args (space separated), grace (seconds) (repeatable)")
    prof.add_argument("--unset", action="append", default=[], metavar="KEY", help="remove a field (repeatable)")
    prof.add_argument("--here", action="store_true", help="change the workspace's profile instead of the user's")
    prof.add_argument("--json", action="store_true", help="machine-readable output")
    prof.set_defaults(func=cmd_profile)

    check = slurm_sub.add_parser("check", parents=[common], help="is Slurm reachable; which partitions exist")
    check.set_defaults(func=cmd_check)


def _parse_sets(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MedtuiError(f"--set expects KEY=VALUE, got {item!r}")
        key = key.strip().replace("-", "_")
        out[key] = value.strip()
    return out


def cmd_profile(args: argparse.Namespace) -> int:
    from medtui.core.slurm import profile

    ws = workspace_from(args)
    changes: dict[str, object] = _parse_sets(args.sets)
    changes.update({k.strip().replace("-", "_"): None for k in args.unset})
    if changes:
        path = profile.save_profile(changes, ws=ws if args.here else None)
        print(f"saved {path}", file=sys.stderr)
    values = profile.options_for(ws).to_json()
    sources = profile.profile_sources(ws)
    if args.json:
        print(json.dumps({"options": values, "sources": sources}, indent=2, ensure_ascii=False))
        return EXIT_OK
    for key, value in values.items():
        origin = sources.get(key, "default")
        print(f"{key:<14} {json.dumps(value, ensure_ascii=False):<24} ({origin})")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from medtui.core.slurm import commands

    missing = commands.missing_command("sbatch")
    if missing:
        print(f"medtui: {missing}", file=sys.stderr)
        return EXIT_BAD_INPUT
    parts = commands.partitions()
    if not parts:
        print("medtui: sinfo lists no partitions", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{'PARTITION':<16} {'STATE':<6} {'NODES':>5} {'CPUS/NODE':>9} {'GPUS/NODE':>9}")
    for part in parts.values():
        name = part.name + ("*" if part.default else "")
        print(f"{name:<16} {'up' if part.available else 'down':<6} {part.nodes:>5} {part.cpus_per_node:>9} "
              f"{part.gpus_per_node:>9}")
    return EXIT_OK
