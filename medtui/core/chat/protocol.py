"""The chat worker's JSON-lines protocol: one JSON object per line, UTF-8, both ways.

Requests (client → worker, on stdin), each with ``op`` and an optional ``id``:

* ``load``     ``{model, adapters: [..], template, backend: auto|huggingface|vllm, infer: {..}}``
* ``chat``     ``{messages: [{role, content}..], system, gen: {max_new_tokens, temperature, ...}}``
* ``stop``     stop the generation in progress (the reply so far is kept)
* ``unload``   free the model; the worker stays up
* ``shutdown`` exit

Events (worker → client, on stdout), each with ``event`` and the ``id`` of its request:

* ``ready``    ``{pid}``: the worker is up (sent once, before any request)
* ``loaded``   ``{model, adapters, template, backend, load_s}``
* ``delta``    ``{text}``: the next piece of the reply
* ``done``     ``{stopped, usage: {prompt_tokens, completion_tokens}, timings: {first_token_s, total_s,
  tokens_per_s}}``
* ``unloaded``
* ``error``    ``{message, kind}``; kind is one of :data:`ERROR_KINDS`
"""

from __future__ import annotations

import json
from typing import Any

OPS = ("load", "chat", "stop", "unload", "shutdown")
EVENTS = ("ready", "loaded", "delta", "done", "unloaded", "error")
#: ``oom``: out of memory; ``load``: the model could not be loaded; ``bad_request``: a malformed
#: request; ``not_loaded``: chat before load; ``busy``: a generation is already running;
#: ``generate``: generation failed; ``crash``: the worker process died (made up by the client).
ERROR_KINDS = ("oom", "load", "bad_request", "not_loaded", "busy", "generate", "crash")


class ProtocolError(ValueError):
    """A line that is not a protocol message."""


def encode(message: dict[str, Any]) -> str:
    """One message as one line (no embedded newlines: JSON escapes them)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n"


def decode(line: str | bytes) -> dict[str, Any]:
    """Parse one line; raise :class:`ProtocolError` for anything that is not a JSON object."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    try:
        message = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"expected a JSON object, got {type(message).__name__}")
    return message


def request(op: str, req_id: str | None = None, **fields: Any) -> dict[str, Any]:
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}")
    msg: dict[str, Any] = {"op": op}
    if req_id is not None:
        msg["id"] = req_id
    msg.update(fields)
    return msg


def event(name: str, req_id: str | None = None, **fields: Any) -> dict[str, Any]:
    if name not in EVENTS:
        raise ValueError(f"unknown event {name!r}")
    msg: dict[str, Any] = {"event": name}
    if req_id is not None:
        msg["id"] = req_id
    msg.update(fields)
    return msg


def error(message: str, kind: str, req_id: str | None = None) -> dict[str, Any]:
    return event("error", req_id, message=message, kind=kind if kind in ERROR_KINDS else "generate")


def is_oom(exc: BaseException) -> bool:
    """True for CUDA/CPU out-of-memory errors, recognised by type name and message."""
    name = type(exc).__name__
    text = str(exc).lower()
    return name in ("OutOfMemoryError", "MemoryError") or "out of memory" in text
