"""The ``medtui`` command: the TUI when run bare, headless subcommands otherwise.

Exit codes: 0 ok, 1 a run (or check) failed, 2 bad input. Each subcommand group lives in its
own module with a ``register(subparsers, common)`` function; this module only wires them up.
"""

from __future__ import annotations

import argparse
import sys

from medtui import __version__
from medtui.cli.common import common_parser, run_guarded

#: Subcommand modules, in the order ``medtui --help`` lists them.
COMMAND_MODULES = (
    "medtui.cli.demo_cmd",
    "medtui.cli.train_cmd",
    "medtui.cli.slurm_cmd",
    "medtui.cli.estimate_cmd",
    "medtui.cli.doctor_cmd",
    "medtui.cli.download_cmd",
    "medtui.cli.model_cmd",
    "medtui.cli.data_cmd",
    "medtui.cli.chat_cmd",
    "medtui.cli.predict_cmd",
    "medtui.cli.eval_cmd",
    "medtui.cli.notify_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    common = common_parser()
    parser = argparse.ArgumentParser(
        prog="medtui",
        parents=[common],
        description="A terminal app for the LLaMA-Factory fine-tuning lifecycle (PT → SFT → RM/PPO, DPO, KTO → "
                    "export), made for SSH sessions. Run it bare to open the TUI.",
        epilog="Exit codes: 0 ok, 1 a run failed, 2 bad input. 中文界面: medtui --lang zh",
    )
    parser.add_argument("--version", action="version", version=f"medtui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


class _Undecided(Exception):
    """The quick parse of a bare ``medtui`` could not tell: the full parser will."""


class _QuickParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise _Undecided(message)


def bare_tui_args(argv: list[str]) -> argparse.Namespace | None:
    """The options of a bare ``medtui`` (which opens the TUI), or None when ``argv`` names a
    subcommand, asks for help or the version, or is wrong: the full parser, which imports every
    subcommand's module, handles those. Opening the TUI skips that work, so it starts sooner."""
    if any(arg in ("-h", "--help", "--version") for arg in argv):
        return None
    try:
        args, rest = _QuickParser(add_help=False, parents=[common_parser()]).parse_known_args(argv)
    except _Undecided:
        return None
    return None if rest else args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    bare = bare_tui_args(argv)
    if bare is not None:
        from medtui.cli.tui_cmd import open_tui

        return run_guarded(open_tui, bare)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    func = getattr(args, "func", None)
    if func is None:
        from medtui.cli.tui_cmd import open_tui

        return run_guarded(open_tui, args)
    return run_guarded(func, args)


if __name__ == "__main__":
    sys.exit(main())
