"""Shared CLI plumbing: global options, workspace resolution and error-to-exit-code mapping."""

from __future__ import annotations

import argparse
import os
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
        if ws.root.exists():
            raise MedtuiError(f"workspace {ws.root} is a file, not a folder")
        raise MedtuiError(f"workspace folder not found: {ws.root}")
    return ws


def run_guarded(func: Callable[[argparse.Namespace], Any], args: argparse.Namespace) -> int:
    """Run a command; bad input becomes a message and exit 2, Ctrl-C exits 130, never a traceback.

    A file-system error nobody foresaw (a full disk, a read-only folder) is one line and exit 2;
    any other unexpected error is one line and exit 1, with the traceback kept in a crash log
    (``MEDTUI_DEBUG=1`` shows it instead).
    """
    try:
        code = func(args)
    except MedtuiError as exc:
        print(f"medtui: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("medtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_OK
    except OSError as exc:
        if os.environ.get("MEDTUI_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"medtui: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        if os.environ.get("MEDTUI_DEBUG"):
            raise
        log = _crash_log()
        print(f"medtui: internal error: {type(exc).__name__}: {str(exc)[:300]}"
              + (f" (details in {log}; please report it)" if log else ""), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK if code is None else int(code)


def _quiet_stdout() -> None:
    """After a closed pipe (``medtui runs | head``), stop Python complaining when it flushes stdout."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _crash_log() -> str | None:
    """Write the current exception's traceback to the user's cache; its path, or None."""
    import traceback

    from medtui.core.userdirs import cache_dir

    path = str(cache_dir() / "crash.log")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"--- {' '.join(sys.argv)}\n{traceback.format_exc()}\n")
        return path
    except OSError:
        return None
