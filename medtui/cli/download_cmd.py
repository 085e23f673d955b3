"""``medtui download model|dataset ID``: fetch from ModelScope (or the Hugging Face hub)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from medtui.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, workspace_from
from medtui.core.errors import MedtuiError


def register(sub, common) -> None:
    p = sub.add_parser("download", parents=[common], help="download a model or dataset from ModelScope",
                       description="Download a model into models/<name> or a dataset into data/<name> with the "
                                   "ModelScope SDK (resumable; sizes and sha256 checked). 从魔搭下载模型或数据集。",
                       epilog="MODELSCOPE_ENDPOINT (or HF_ENDPOINT with --hub hf) is honoured. Exit codes: 0 done, "
                              "1 failed (network, server, checksum), 2 bad input or unknown id, 130 cancelled.")
    p.add_argument("kind", choices=("model", "dataset"))
    p.add_argument("repo_id", metavar="ID", help="OWNER/NAME, e.g. qwen/Qwen2-0.5B")
    p.add_argument("--revision", help="branch, tag or commit (default master)")
    p.add_argument("--include", action="append", default=[], metavar="GLOB", help="only files matching (repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip files matching (repeatable)")
    p.add_argument("--endpoint", metavar="URL", help="hub address, e.g. https://www.modelscope.cn")
    p.add_argument("--hub", choices=("modelscope", "hf"), default="modelscope",
                   help="modelscope (default) or hf (huggingface_hub)")
    reg = p.add_mutually_exclusive_group()
    reg.add_argument("--register", action="store_true", help="datasets: register the files in dataset_info.json")
    reg.add_argument("--no-register", action="store_true", help="datasets: do not offer to register")
    p.add_argument("--name", help="datasets: the name to register (when there is one data file)")
    p.add_argument("--json", action="store_true", help="print the progress events as JSON lines")
    p.set_defaults(func=cmd_download)


class _Printer:
    """Progress for humans: one updating line on a terminal, a line every few seconds otherwise."""

    def __init__(self, tty: bool):
        self.tty, self.last, self.width = tty, 0.0, 0

    def __call__(self, state, event) -> None:
        kind = event.get("event")
        if kind == "plan":
            todo = state.to_fetch
            print(f"{len(state.files)} file(s), {_fmt(state.total)}; {todo} to fetch"
                  + (f" (from {state.endpoint})" if state.endpoint else ""), flush=True)
        elif kind == "file_done":
            f = state.files.get(event["path"])
            self._clear()
            print(f"  done {event['path']} ({_fmt(f.size or 0) if f else '?'})", flush=True)
        elif kind == "progress":
            now = time.monotonic()
            if now - self.last >= (0.2 if self.tty else 2.0):
                self.last = now
                active = [f for f in state.files.values() if f.active]
                line = state.summary() + (f"  {active[0].path} {active[0].fraction:.0%}" if active else "")
                if self.tty:
                    self.width = max(self.width, len(line))
                    print("\r" + line.ljust(self.width), end="", flush=True)
                else:
                    print(line, flush=True)

    def _clear(self) -> None:
        if self.tty and self.width:
            print("\r" + " " * self.width + "\r", end="", flush=True)


def _fmt(n: int) -> str:
    from medtui.core.hub.download import human_bytes

    return human_bytes(n)


def cmd_download(args: argparse.Namespace) -> int:
    from medtui.core.hub import download

    ws = workspace_from(args)
    req = download.make_request(ws, args.kind, args.repo_id, revision=args.revision, include=args.include,
                                exclude=args.exclude, endpoint=args.endpoint, hub=args.hub)
    if args.name and args.kind != "dataset":
        raise MedtuiError("--name is for datasets")
    if args.json:
        def on_event(state, event):
            print(json.dumps(event, ensure_ascii=False), flush=True)
    else:
        print(f"downloading {req.kind} {req.repo_id} → {ws.relative(req.dest)}", flush=True)
        on_event = _Printer(sys.stdout.isatty())
    try:
        state = download.run(req, on_event=on_event)
    except KeyboardInterrupt:
        print(f"\ncancelled; run the same command again to resume ({ws.relative(req.dest)})", file=sys.stderr)
        return 130
    if state.status != "done":
        print(f"medtui: {state.message}", file=sys.stderr)
        return EXIT_BAD_INPUT if state.error_kind == "not_found" else EXIT_FAILED
    fetched = sum(1 for f in state.files.values() if not f.skipped)
    if not args.json:
        print(f"{req.repo_id}: {len(state.files)} file(s) complete in {ws.relative(req.dest)} "
              f"({fetched} fetched, {len(state.files) - fetched} already there)")
    if req.kind == "dataset" and not args.no_register:
        return _offer_register(ws, req, args)
    return EXIT_OK


def _offer_register(ws, req, args) -> int:
    from medtui.core.data.detect import register, suggest

    registry = ws.registry()
    if registry.read_only:
        print(f"medtui: cannot register: {registry.error}", file=sys.stderr)
        return EXIT_OK
    suggestions = suggest(req.dest, ws.data_dir, req.name, registry)
    usable = [s for s in suggestions if s.entry is not None and not s.registered_as]
    for s in suggestions:
        if s.registered_as:
            print(f"{ws.relative(s.file)} is already registered as {s.registered_as}")
        elif s.entry is None:
            print(f"{ws.relative(s.file)}: not registered ({s.note})")
    if args.name and len(usable) != 1:
        raise MedtuiError(f"--name needs exactly one data file to register; found {len(usable)}")
    interactive = not args.register and not args.json and sys.stdin.isatty()
    for s in usable:
        name = args.name or s.name
        if not args.register:
            if not interactive:
                print(f"to register {s.entry['file_name']} ({s.columns_text}): add --register [--name NAME]")
                continue
            answer = input(f"register {s.entry['file_name']} as {name!r} ({s.columns_text})? [y/N/name] ").strip()
            if answer.lower() in ("", "n", "no"):
                continue
            if answer.lower() not in ("y", "yes"):
                name = answer
        used = register(ws, s, name)
        print(f"registered {used}: {json.dumps(s.entry, ensure_ascii=False)}")
    return EXIT_OK
