"""``medtui notify``: show, change and test how medtui tells you a run ended."""

from __future__ import annotations

import argparse
import json
import sys
import time

from medtui.cli.common import EXIT_FAILED, EXIT_OK, workspace_from
from medtui.core import notify


def register(sub, common) -> None:
    p = sub.add_parser("notify", parents=[common], help="run-end notifications: bell, desktop, hook / 通知",
                       description="Runs notify when they end, even with no medtui open: a bell and a desktop "
                                   "notification (OSC 777 / OSC 9) in every open TUI, and your hook command. "
                                   "Settings: notify.json per user (~/.config/medtui) and per workspace "
                                   "(.medtui/), the workspace's winning.")
    ns = p.add_subparsers(dest="notify_command", metavar="ACTION", required=True)

    s = ns.add_parser("show", parents=[common], help="the effective settings and where they come from / 显示设置")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    s = ns.add_parser("set", parents=[common], help="change settings / 修改设置",
                      description="Change notification settings, in the user's file or (--scope workspace) the "
                                  "workspace's. The hook is an argv, run without a shell; --hook takes every "
                                  "argument after it, so put it last: medtui notify set --hook-timeout 20 "
                                  "--hook notify-send medtui")
    s.add_argument("--scope", choices=("user", "workspace"), default="user")
    s.add_argument("--bell", choices=("on", "off"))
    s.add_argument("--desktop", choices=("on", "off"))
    s.add_argument("--alerts", choices=("on", "off"), help="tell open TUIs about urgent live alerts")
    s.add_argument("--hook", nargs=argparse.REMAINDER, metavar="ARG", help="the hook's argv: every argument after "
                                                                          "--hook (so put it last)")
    s.add_argument("--no-hook", action="store_true", help="remove the hook")
    s.add_argument("--hook-timeout", type=float, metavar="S")
    s.add_argument("--hook-events", metavar="LIST", help="comma-separated: succeeded,failed,stopped")
    s.set_defaults(func=cmd_set)

    s = ns.add_parser("test", parents=[common], help="send a test notification through every channel / 测试")
    s.set_defaults(func=cmd_test)


def _onoff(value: str | None) -> bool | None:
    return None if value is None else value == "on"


def cmd_show(args: argparse.Namespace) -> int:
    ws = workspace_from(args)
    settings = notify.load(ws.root, strict=True)
    if args.json:
        print(json.dumps(settings, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"user settings:      {notify.user_path()}{'' if notify.user_path().exists() else ' (none)'}")
    ws_file = notify.workspace_path(ws.root)
    print(f"workspace settings: {ws_file}{'' if ws_file.exists() else ' (none)'}")
    for key in ("bell", "desktop", "alerts", "hook", "hook_timeout", "hook_events"):
        print(f"  {key:<13} {json.dumps(settings[key], ensure_ascii=False)}")
    listeners = sorted(notify.listeners_dir().glob("*.sock")) if notify.listeners_dir().is_dir() else []
    print(f"open TUIs listening: {len(listeners)}")
    return EXIT_OK


def cmd_set(args: argparse.Namespace) -> int:
    from medtui.core.errors import MedtuiError

    ws = workspace_from(args)
    values: dict = {}
    for key in ("bell", "desktop", "alerts"):
        if getattr(args, key) is not None:
            values[key] = _onoff(getattr(args, key))
    if args.hook is not None and args.no_hook:
        raise MedtuiError("choose --hook or --no-hook, not both")
    hook = [a for a in (args.hook or [])]
    if hook and hook[0] == "--":
        hook = hook[1:]
    if args.hook is not None and not hook:
        raise MedtuiError("--hook needs a program (and its arguments) after it")
    if hook:
        values["hook"] = hook
    if args.no_hook:
        values["hook"] = None
    if args.hook_timeout is not None:
        values["hook_timeout"] = args.hook_timeout
    if args.hook_events is not None:
        values["hook_events"] = [e.strip() for e in args.hook_events.split(",") if e.strip()]
    if not values:
        raise MedtuiError("nothing to set; see medtui notify set --help")
    path = notify.save(values, ws_root=ws.root if args.scope == "workspace" else None)
    print(f"saved {path}")
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    ws = workspace_from(args)
    settings = notify.load(ws.root, strict=True)
    record = {"id": "notify-test", "stage": "test", "kind": "test", "status": "failed", "exit_code": 1,
              "workspace": str(ws.root), "started": time.time(), "ended": time.time(),
              "diagnosis": {"cause": "test", "reason": "this is a test notification", "fix": "nothing to fix"}}
    payload = notify.run_event(record, event="test")
    if sys.stdout.isatty():
        sys.stdout.write(notify.terminal_sequences(payload["title"], payload["body"], bell=settings["bell"],
                                                   desktop=settings["desktop"]))
        sys.stdout.flush()
        print(f"this terminal: bell {'on' if settings['bell'] else 'off'}, desktop notification "
              f"{'sent' if settings['desktop'] else 'off'} (OSC 777 and OSC 9)")
    sent = notify.send_to_listeners({**payload, "bell": settings["bell"], "desktop": settings["desktop"],
                                     "urgent": True})
    print(f"open TUIs notified: {sent}")
    if not settings.get("hook"):
        print("hook: none set (medtui notify set --hook PROGRAM ARGS...)")
        return EXIT_OK
    result = notify.run_hook(settings["hook"], payload, float(settings["hook_timeout"]))
    print(f"hook {json.dumps(settings['hook'], ensure_ascii=False)}: "
          + (f"exit code {result.returncode} in {result.seconds:.2f} s" if not result.error else result.error))
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text.strip():
            print(f"  {name}: {text.strip()[-500:]}")
    return EXIT_OK if result.ok else EXIT_FAILED
