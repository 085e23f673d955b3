"""The chat worker process: ``python -m medtui.workers.chat``.

It reads :mod:`~medtui.core.chat.protocol` requests from stdin and writes events to stdout; stdout
carries the protocol only (library prints and C-level output go to stderr). The model is
llamafactory's ChatModel on the huggingface backend, or vllm when it is installed and a GPU is
visible. Replies are generated on the engine's own event loop (no extra thread per request), so
the main thread keeps reading requests (``stop``) while tokens stream; on the huggingface backend
a stopping criterion ends ``generate`` at once and counts the generated tokens. Events leave
through :class:`Outbox`.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import queue
import sys
import threading
import time
from typing import Any, Callable

from medtui.core.chat import protocol
from medtui.core.chat.protocol import ProtocolError, event, is_oom

#: Generation keys passed on to ChatModel.stream_chat.
CHAT_GEN_KEYS = ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "do_sample")
#: Extra keys the worker applies itself on the huggingface backend.
WORKER_GEN_KEYS = ("min_new_tokens",)


class ChatWorker:
    """Protocol handler; ``send(event, now=...)`` writes one event."""

    def __init__(self, send: Callable[..., None]):
        self.send = send
        self.chat_model: Any = None
        self.info: dict[str, Any] = {}
        self.stop_event = threading.Event()
        self.gen_future: Any = None
        self.steps = 0
        self.gen_error: BaseException | None = None
        self.extra_gen: dict[str, Any] = {}
        self.interruptible = False
        self.active = False

    # -- dispatch ------------------------------------------------------------------------------
    def handle(self, msg: dict[str, Any]) -> bool:
        """Handle one request; False means shut down."""
        op, req_id = msg.get("op"), msg.get("id")
        if op == "shutdown":
            self.stop_event.set()
            return False
        if op == "stop":
            self.stop_event.set()
            return True
        if op == "load":
            self.load(req_id, msg)
        elif op == "chat":
            self.chat(req_id, msg)
        elif op == "unload":
            if self.busy:
                self.send(protocol.error("a reply is being generated; stop it first", "busy", req_id))
            else:
                self.unload()
                self.send(event("unloaded", req_id))
        else:
            self.send(protocol.error(f"unknown op {op!r}; expected one of {', '.join(protocol.OPS)}",
                                     "bad_request", req_id))
        return True

    @property
    def busy(self) -> bool:
        """A reply is being generated; cleared just before its final event is sent."""
        return self.active

    # -- load / unload -------------------------------------------------------------------------
    def load(self, req_id: str | None, msg: dict[str, Any]) -> None:
        model = msg.get("model")
        if not isinstance(model, str) or not model:
            self.send(protocol.error("load needs a model path", "bad_request", req_id))
            return
        if self.busy:
            self.send(protocol.error("a reply is being generated; stop it first", "busy", req_id))
            return
        self.unload()
        adapters = [a for a in (msg.get("adapters") or []) if a]
        template = msg.get("template") or "default"
        backend = resolve_backend(msg.get("backend") or "auto")
        args: dict[str, Any] = {"model_name_or_path": model, "template": template, "infer_backend": backend}
        if adapters:
            args["adapter_name_or_path"] = ",".join(adapters)
            args["finetuning_type"] = "lora"
        args.update(msg.get("infer") or {})
        started = time.perf_counter()
        try:
            from llamafactory.chat import ChatModel

            self.chat_model = ChatModel(args)
        except BaseException as exc:  # every failure becomes an event
            self.chat_model = None
            kind = "oom" if is_oom(exc) else "load"
            self.send(protocol.error(f"could not load {model}: {type(exc).__name__}: {exc}", kind, req_id))
            gc.collect()
            return
        self.interruptible = self._install_generate_hook()
        self.info = {"model": model, "adapters": adapters, "template": template, "backend": backend}
        self.send(event("loaded", req_id, load_s=round(time.perf_counter() - started, 3), **self.info))

    def unload(self) -> None:
        if self.chat_model is None:
            return
        loop = getattr(self.chat_model, "_loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        self.chat_model = None
        self.info = {}
        gc.collect()
        try:
            from llamafactory.extras.misc import torch_gc

            torch_gc()
        except Exception:  # freeing memory is best effort
            pass

    def _install_generate_hook(self) -> bool:
        """Wrap the HF model's generate with a stop-and-count criterion; False on other backends."""
        engine = getattr(self.chat_model, "engine", None)
        model = getattr(engine, "model", None)
        if model is None or not hasattr(model, "generate") or str(getattr(engine, "name", "")) != "huggingface":
            return False
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        worker = self

        class StopAndCount(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                worker.steps += 1
                return torch.full((input_ids.shape[0],), worker.stop_event.is_set(), dtype=torch.bool,
                                  device=input_ids.device)

        original = model.generate

        def generate(*args: Any, **kwargs: Any):
            criteria = StoppingCriteriaList(list(kwargs.pop("stopping_criteria", None) or []))
            criteria.append(StopAndCount())
            kwargs["stopping_criteria"] = criteria
            config = kwargs.get("generation_config")
            if config is not None and worker.extra_gen.get("min_new_tokens"):
                config.min_new_tokens = int(worker.extra_gen["min_new_tokens"])
            try:
                return original(*args, **kwargs)
            except BaseException as exc:  # the streamer must end or the reader hangs
                worker.gen_error = exc
                streamer = kwargs.get("streamer")
                if streamer is not None:
                    streamer.end()
                return None

        model.generate = generate
        return True

    # -- chat ----------------------------------------------------------------------------------
    def chat(self, req_id: str | None, msg: dict[str, Any]) -> None:
        if self.chat_model is None:
            self.send(protocol.error("no model is loaded; load one first", "not_loaded", req_id))
            return
        if self.busy:
            self.send(protocol.error("a reply is already being generated", "busy", req_id))
            return
        messages = msg.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") in ("user", "assistant")
                for m in messages):
            self.send(protocol.error("chat needs messages: a list of {role: user|assistant, content}", "bad_request",
                                     req_id))
            return
        if messages[-1]["role"] != "user":
            self.send(protocol.error("the last message must be the user's", "bad_request", req_id))
            return
        gen = dict(msg.get("gen") or {})
        system = msg.get("system") or None
        self.stop_event.clear()
        self.active = True
        # Runs on the engine's own event loop: no extra thread between the request and the model.
        self.gen_future = asyncio.run_coroutine_threadsafe(self._generate(req_id, messages, system, gen),
                                                           self.chat_model._loop)

    async def _generate(self, req_id: str | None, messages: list[dict], system: str | None,
                        gen: dict[str, Any]) -> None:
        chat_model = self.chat_model
        self.steps = 0
        self.gen_error = None
        self.extra_gen = {k: gen.pop(k) for k in WORKER_GEN_KEYS if k in gen}
        kwargs = {k: v for k, v in gen.items() if k in CHAT_GEN_KEYS and v is not None}
        pieces: list[str] = []
        first: list[float] = []
        started = time.perf_counter()

        async def stream() -> None:
            agen = chat_model.astream_chat([dict(m) for m in messages], system, **kwargs)
            try:
                async for piece in agen:
                    if self.stop_event.is_set():
                        if self.interruptible:
                            continue  # generate ends at its next step; drain so the engine unwinds
                        break
                    if not piece:
                        continue
                    pieces.append(piece)
                    # the first piece goes out at once; later ones may be merged if the reader lags
                    self.send(event("delta", req_id, text=piece), now=not first)
                    if not first:
                        first.append(time.perf_counter())
            finally:
                await agen.aclose()

        try:
            await stream()
        except BaseException as exc:
            self.gen_error = self.gen_error or exc
        ended = time.perf_counter()
        if self.gen_error is not None:
            exc = self.gen_error
            final = protocol.error(f"generation failed: {type(exc).__name__}: {exc}",
                                   "oom" if is_oom(exc) else "generate", req_id)
        else:
            text = "".join(pieces)
            tokens = self.steps if self.interruptible else _count_tokens(chat_model, text)
            total = ended - started
            final = event(
                "done", req_id, stopped=self.stop_event.is_set(),
                usage={"prompt_tokens": _prompt_tokens(chat_model, messages, system), "completion_tokens": tokens},
                timings={"first_token_s": round(first[0] - started, 4) if first else None,
                         "total_s": round(total, 4), "tokens_per_s": round(tokens / total, 2) if total > 0 else None},
            )
        self.active = False  # before the final event, so the client's next request is never "busy"
        self.send(final)


def resolve_backend(backend: str) -> str:
    """``auto`` means vllm when it is installed and a GPU is visible, else huggingface."""
    if backend in ("huggingface", "vllm"):
        return backend
    if importlib.util.find_spec("vllm") is not None:
        import torch

        if torch.cuda.is_available():
            return "vllm"
    return "huggingface"


def _count_tokens(chat_model: Any, text: str) -> int:
    tokenizer = getattr(chat_model.engine, "tokenizer", None)
    try:
        return len(tokenizer.encode(text, add_special_tokens=False)) if tokenizer is not None else 0
    except Exception:
        return 0


def _prompt_tokens(chat_model: Any, messages: list[dict], system: str | None) -> int | None:
    engine = chat_model.engine
    try:
        ids, _ = engine.template.encode_oneturn(engine.tokenizer, [*messages, {"role": "assistant", "content": ""}],
                                                system)
        return len(ids)
    except Exception:  # usage is informative only
        return None


class Outbox:
    """Writes events to the protocol stream, in order, without the model waiting on the pipe.

    ``send(..., now=True)`` writes at once on the caller's thread when nothing is queued (the first
    piece of a reply, final events: no extra thread hop before the client sees them). Other events
    go through a writer thread; when the reader falls behind, consecutive ``delta`` events of one
    request are merged, so a busy machine sees fewer writes and wake-ups.
    """

    def __init__(self, stream) -> None:
        self.stream = stream
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.pending = 0  # queued and not yet written
        self.thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self.thread.start()

    def send(self, message: dict[str, Any], *, now: bool = False) -> None:
        with self.lock:
            if now and self.pending == 0:
                self._write([message])
                return
            self.pending += 1
            self.queue.put(message)

    def close(self, timeout: float = 5.0) -> None:
        self.queue.put(None)
        self.thread.join(timeout)

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            merged: list[dict[str, Any]] = []
            for msg in batch:
                if msg is None:
                    break
                last = merged[-1] if merged else None
                if (last is not None and msg.get("event") == "delta" and last.get("event") == "delta"
                        and last.get("id") == msg.get("id")):
                    merged[-1] = {**last, "text": last["text"] + msg["text"]}
                else:
                    merged.append(msg)
            with self.lock:
                self._write(merged)
                self.pending -= sum(1 for m in batch if m is not None)
            if batch[-1] is None:
                return

    def _write(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        try:
            self.stream.write("".join(protocol.encode(m) for m in messages))
            self.stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            os._exit(0)  # the client is gone


def main() -> int:
    # The protocol owns the real stdout; everything else printed (Python or C) goes to stderr.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    outbox = Outbox(proto)

    def send(message: dict[str, Any], *, now: bool = True) -> None:
        outbox.send(message, now=now)
    worker = ChatWorker(send)
    send(event("ready", pid=os.getpid()))
    stdin = open(sys.stdin.fileno(), "r", encoding="utf-8", errors="replace", closefd=False)
    for line in stdin:
        if not line.strip():
            continue
        try:
            msg = protocol.decode(line)
        except ProtocolError as exc:
            send(protocol.error(f"bad request line: {exc}", "bad_request"))
            continue
        try:
            if not worker.handle(msg):
                break
        except Exception as exc:  # a bad request never kills the worker
            send(protocol.error(f"{type(exc).__name__}: {exc}", "bad_request", msg.get("id")))
    worker.stop_event.set()
    if worker.gen_future is not None:
        try:
            worker.gen_future.result(timeout=5)
        except Exception:  # exiting anyway
            pass
    outbox.close()
    os._exit(0)  # daemon threads (the engine's loop, generate) must not delay the exit


if __name__ == "__main__":
    sys.exit(main())
