"""The chat worker with real models from the trained demo workspace (one worker for the module).

Covers streaming a Chinese prompt, stop, a failed load that leaves the worker usable, chatting
with the merged export, and a worker killed mid-generation.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from medtui.core.chat.client import ChatClient, WorkerError
from medtui.core.chat.models import resolve_model

pytestmark = pytest.mark.e2e
LONG = {"max_new_tokens": 4000, "min_new_tokens": 4000}  # a reply that cannot end early


@pytest.fixture(scope="module")
def sft_client(trained_ws):
    source = resolve_model(trained_ws, "sft")
    client = ChatClient().start()
    client.load(source.model, source.adapters, "default", timeout=300)
    yield client
    client.close()


def test_chinese_prompt_streams_in_pieces(sft_client):
    events = list(sft_client.stream([{"role": "user", "content": "头痛怎么办？"}], "你是一名医生。",
                                    {"max_new_tokens": 48, "min_new_tokens": 48, "temperature": 0.9}, timeout=120))
    deltas = [e["text"] for e in events if e["event"] == "delta"]
    done = events[-1]
    assert done["event"] == "done" and done["stopped"] is False
    assert len(deltas) >= 2, "tokens should arrive as several deltas, not one block"
    assert all(deltas)
    assert done["usage"]["completion_tokens"] == 48
    assert done["usage"]["prompt_tokens"] > 5  # the Chinese prompt and the system prompt, templated
    timings = done["timings"]
    assert 0 <= timings["first_token_s"] <= timings["total_s"] and timings["tokens_per_s"] > 0
    assert sft_client.last_done is done


def test_stop_ends_the_reply_at_once(sft_client):
    started = time.monotonic()
    pieces = 0
    stream = sft_client.stream([{"role": "user", "content": "请介绍高血压。"}], None, LONG, timeout=120)
    for ev in stream:
        if ev["event"] == "delta":
            pieces += 1
            if pieces == 2:
                sft_client.stop()
    assert ev["event"] == "done" and ev["stopped"] is True
    assert ev["usage"]["completion_tokens"] < 4000
    assert time.monotonic() - started < 60
    # the worker is ready for the next request right away
    assert sft_client.reply([{"role": "user", "content": "你好"}], gen={"max_new_tokens": 4}, timeout=60)


def test_a_failed_load_is_reported_and_the_export_then_chats(sft_client, trained_ws, tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(WorkerError) as err:
        sft_client.load(str(empty), timeout=120)
    assert err.value.kind == "load" and str(empty) in str(err.value)
    assert sft_client.alive and sft_client.loaded is None
    export = resolve_model(trained_ws, "saves/workflow-demo/export/dpo-merged")
    info = sft_client.load(export.model, (), "default", timeout=300)
    assert info["model"] == export.model and info["backend"] == "huggingface"
    reply = sft_client.reply([{"role": "user", "content": "失眠怎么办？"}], gen={"max_new_tokens": 16}, timeout=120)
    assert sft_client.last_done["usage"]["completion_tokens"] > 0 and isinstance(reply, str)


def test_killed_worker_is_a_clear_error(sft_client):
    """Last in the module: the worker stays dead (the Chat screen test covers reload)."""
    stream = sft_client.stream([{"role": "user", "content": "糖尿病要注意什么？"}], None, LONG, timeout=120)
    first = next(stream)
    assert first["event"] == "delta"
    os.kill(sft_client.pid, signal.SIGKILL)
    with pytest.raises(WorkerError) as err:
        for _ in stream:
            pass
    assert err.value.kind == "crash"
    assert "killed (SIGKILL)" in str(err.value) and "memory" in str(err.value)
    assert not sft_client.alive and sft_client.loaded is None
    with pytest.raises(WorkerError) as err:
        sft_client.reply([{"role": "user", "content": "还在吗？"}])
    assert err.value.kind == "crash"
