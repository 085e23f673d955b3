"""``medtui chat --prompt`` through a LoRA adapter (real model), and its bad inputs (exit 2)."""

from __future__ import annotations

import pytest
from conftest import medtui_cli

pytestmark = pytest.mark.e2e  # the trained demo workspace


def test_chat_prompt_through_an_adapter(trained_ws):
    proc = medtui_cli("chat", "saves/workflow-demo/full/sft", "--adapter", "saves/workflow-demo/lora/dpo",
                      "--prompt", "头痛怎么办？", "--system", "你是一名医生。", "--max-new-tokens", "12",
                      "--temperature", "0.9", "-w", str(trained_ws.root), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.endswith("\n")  # the reply (sampled: it may even be empty) and a newline
    assert "lora/dpo" in proc.stderr  # "loading BASE + ADAPTER" goes to stderr, the reply alone to stdout
    tokens = int(proc.stderr.rsplit("(", 1)[1].split()[0])
    assert 1 <= tokens <= 12


@pytest.mark.parametrize("args, message", [
    (("no-such-model",), "neither a folder"),
    (("saves/workflow-demo/full/sft", "--adapter", "saves/no-adapter"), "adapter folder not found"),
    (("saves/workflow-demo/full/sft", "--adapter", "saves/workflow-demo/full/pt"), "not a LoRA adapter"),
    (("rm",), "rm run"),
    (("sft", "--temperature", "hot"), "--temperature must be a number"),
    (("sft", "--max-new-tokens", "0"), "--max-new-tokens must be at least 1"),
    (("sft", "--prompt", "  "), "the prompt is empty"),
])
def test_chat_bad_inputs_exit_2(trained_ws, args, message):
    full = list(args)
    if "--prompt" not in full:
        full += ["--prompt", "你好"]
    proc = medtui_cli("chat", *full, "-w", str(trained_ws.root), timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""
