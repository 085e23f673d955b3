"""``medtui demo init DIR``: create the demo workspace."""

from __future__ import annotations

import argparse


def register(sub, common) -> None:
    demo = sub.add_parser("demo", parents=[common], help="create the built-in demo workspace")
    demo_sub = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    init = demo_sub.add_parser("init", parents=[common], help="create a demo workspace in DIR (offline)")
    init.add_argument("dir", metavar="DIR", help="folder to create or complete")
    init.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    from medtui.core.demo import init_demo

    init_demo(args.dir, say=print)
    print("next: medtui --workspace", args.dir, " or  medtui pipeline demo --workspace", args.dir)
    return 0
