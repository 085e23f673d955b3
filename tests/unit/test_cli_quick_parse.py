"""A bare ``medtui`` opens the TUI without building the subcommand parser; anything else gets the full one."""

from __future__ import annotations

import pytest

from medtui.cli import bare_tui_args


@pytest.mark.parametrize("argv, expected", [
    ([], {}),
    (["--workspace", "my ws; 'x'"], {"workspace": "my ws; 'x'"}),
    (["-w", "ws", "--lang", "zh"], {"workspace": "ws", "lang": "zh"}),
    (["--demo"], {"demo": True}),
])
def test_a_bare_medtui_is_parsed_quickly(argv, expected):
    args = bare_tui_args(argv)
    assert args is not None and vars(args) == expected


@pytest.mark.parametrize("argv", [
    ["data", "list"],          # a subcommand
    ["--workspace", "ws", "runs"],
    ["--help"], ["-h"], ["--version"],
    ["--lang", "fr"],          # wrong: the full parser says why
    ["--workspace"],           # a missing value
    ["--no-such-option"],
])
def test_everything_else_goes_to_the_full_parser(argv, capsys):
    assert bare_tui_args(argv) is None
    assert capsys.readouterr() == ("", "")  # the quick parse never prints: the full parser does
