"""``medtui chat``: one prompt through a model (streamed to stdout), or the Chat screen."""

from __future__ import annotations

import argparse
import sys

from medtui.cli.common import EXIT_FAILED, EXIT_OK, workspace_from
from medtui.core.chat.settings import GEN_ARGS
from medtui.core.errors import MedtuiError


def register(sub, common) -> None:
    p = sub.add_parser("chat", parents=[common], help="chat with a model (a folder or a run id)",
                       description="Stream one reply to stdout with --prompt, or open the Chat screen on the "
                                   "model. The model runs in a separate worker process.")
    p.add_argument("model", metavar="MODEL", help="model folder (base, full checkpoint, adapter) or run id")
    p.add_argument("--adapter", action="append", default=[], metavar="DIR",
                   help="LoRA adapter folder to load on top (repeatable, in order)")
    p.add_argument("--template", help="chat template (default: the one the model was trained with)")
    p.add_argument("--system", help="system prompt")
    p.add_argument("--prompt", help="the message to send; '-' reads it from stdin. Without it the Chat "
                                    "screen opens")
    p.add_argument("--backend", choices=("auto", "huggingface", "vllm"), default="auto",
                   help="inference backend (auto: vllm when installed and a GPU is visible)")
    for arg in GEN_ARGS:
        p.add_argument("--" + arg.name.replace("_", "-"), dest=arg.name, default=None, metavar="N",
                       help=f"{arg.help_en} (default {arg.default})")
    p.set_defaults(func=cmd_chat)


def cmd_chat(args: argparse.Namespace) -> int:
    from medtui.core.chat.models import resolve_model, suggest_template
    from medtui.core.chat.settings import parse_gen

    ws = workspace_from(args)
    source = resolve_model(ws, args.model, args.adapter)
    template = args.template or suggest_template(source)
    gen, problems = parse_gen({a.name: getattr(args, a.name) for a in GEN_ARGS if getattr(args, a.name) is not None})
    if problems:
        raise MedtuiError("; ".join(f"--{p.field.replace('_', '-')} {p.message}" for p in problems))
    if args.prompt is None:
        return _open_screen(ws, getattr(args, "lang", None) or "en", source, template)
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise MedtuiError("the prompt is empty")
    return _one_reply(source, template, args.system, prompt, gen, args.backend)


def _one_reply(source, template: str, system: str | None, prompt: str, gen: dict, backend: str) -> int:
    from medtui.core.chat.client import ChatClient, WorkerError

    shown = source.model + "".join(f" + {a}" for a in source.adapters)
    print(f"loading {shown} (template {template}) ...", file=sys.stderr, flush=True)
    client = ChatClient()
    try:
        client.start()
        client.load(source.model, source.adapters, template, backend=backend)
        for ev in client.stream([{"role": "user", "content": prompt}], system, gen):
            if ev["event"] == "delta":
                sys.stdout.write(ev["text"])
                sys.stdout.flush()
        sys.stdout.write("\n")
        done = client.last_done or {}
        usage, timings = done.get("usage") or {}, done.get("timings") or {}
        rate = timings.get("tokens_per_s")
        print(f"({usage.get('completion_tokens', '?')} tokens" + (f", {rate:.1f} tokens/s" if rate else "") + ")",
              file=sys.stderr)
        return EXIT_OK
    except WorkerError as exc:
        print(f"\nmedtui: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        client.stop()
        print("\nmedtui: stopped", file=sys.stderr)
        return 130
    finally:
        client.close()


def _open_screen(ws, lang: str, source, template: str) -> int:
    app = build_chat_app(ws, lang, source, template)
    app.run()
    return app.return_code or 0


def build_chat_app(ws, lang: str, source, template: str, *, autoload: bool = True):
    """A small app that opens the Chat screen on ``source`` (Textual is imported only here)."""
    from textual.app import App

    from medtui.tui.screens.chat.screen import ChatScreen

    class ChatApp(App):
        TITLE = "medtui chat"

        def on_mount(self) -> None:
            self.push_screen(ChatScreen(ws, lang, model=source, template=template, autoload=autoload))

    return ChatApp()
