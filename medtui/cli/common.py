"""Shared CLI plumbing: global options, workspace resolution and error-to-exit-code mapping."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from medtui.core.errors import MedtuiError
from medtui.core.workspace import Workspace

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def common_parser() -> argparse.ArgumentParser:
    """Options every command accepts, before or after the subcommand name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", "-w", metavar="DIR", default=argparse.SUPPRESS,
                        help="workspace folder laid out like a LLaMA-Factory checkout (default: current folder)")
    common.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                        help="use the built-in demo workspace (created on first use)")
    common.add_argument("--lang", choices=("en", "zh"), default=argparse.SUPPRESS,
                        help="interface language / 界面语言")
    return common


def workspace_from(args: argparse.Namespace, *, say: Callable[[str], None] | None = None) -> Workspace:
    """The workspace the user asked for; ``--demo`` creates the demo workspace on first use."""
    if getattr(args, "demo", False):
        from medtui.core.demo import default_demo_dir, init_demo

        return init_demo(default_demo_dir(), say=say or (lambda m: print(m, file=sys.stderr)))
    root = getattr(args, "workspace", None)
    ws = Workspace.open(root)
    if root is not None and not ws.root.is_dir():
        raise MedtuiError(f"workspace folder not found: {ws.root}")
    return ws


def run_guarded(func: Callable[[argparse.Namespace], Any], args: argparse.Namespace) -> int:
    """Run a command; bad input becomes a message and exit 2, Ctrl-C exits 130, never a traceback."""
    try:
        code = func(args)
    except MedtuiError as exc:
        print(f"medtui: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("medtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    return EXIT_OK if code is None else int(code)
