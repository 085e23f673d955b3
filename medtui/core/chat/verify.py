"""Prove a model folder works: load it in a fresh chat worker and generate a few tokens.

The Export screen runs this on the merged model; it reuses the chat worker, so nothing heavy
is imported in the calling process.
"""

from __future__ import annotations

from dataclasses import dataclass

from medtui.core.chat.client import ChatClient, WorkerError

DEFAULT_PROMPT = "你好"


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    message: str
    text: str = ""
    tokens: int = 0
    load_s: float | None = None


def verify_model(model: str, *, adapters: tuple[str, ...] = (), template: str | None = None,
                 prompt: str = DEFAULT_PROMPT, max_new_tokens: int = 8, timeout: float = 600.0) -> VerifyResult:
    """Load ``model`` in a subprocess and generate up to ``max_new_tokens`` greedy tokens."""
    client = ChatClient()
    try:
        client.start()
        loaded = client.load(model, adapters, template, timeout=timeout)
        text = client.reply([{"role": "user", "content": prompt}],
                            gen={"max_new_tokens": max_new_tokens, "temperature": 0}, timeout=timeout)
        done = client.last_done or {}
        tokens = int((done.get("usage") or {}).get("completion_tokens") or 0)
    except WorkerError as exc:
        return VerifyResult(False, f"verification failed: {exc}")
    finally:
        client.close()
    if tokens <= 0:
        return VerifyResult(False, "verification failed: the model loaded but generated no tokens",
                            text, tokens, loaded.get("load_s"))
    return VerifyResult(True, f"loaded in {loaded.get('load_s', 0):.1f}s and generated {tokens} token(s)",
                        text, tokens, loaded.get("load_s"))
