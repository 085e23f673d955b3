"""Probe a trained demo workspace's PPO results; run as ``python tests/ppo_probe.py WORKSPACE`` (heavy imports).

Prints one JSON object:
- ``chat``: llamafactory's ChatModel answers from the merged PPO export and from SFT + PPO adapter;
- ``generated``: tokens transformers generated from the merged export;
- ``policy_shift``: max |logit difference| between the SFT model and the merged PPO model on a fixed prompt;
- ``merge_error``: max |logit difference| between the merged export and SFT + PPO adapter loaded with peft;
- ``rm_medtui`` / ``rm_llamafactory``: the reward of a fixed answer from medtui's scorer and from
  llamafactory's own value-head model.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path


def main(ws: Path) -> dict:
    import torch
    from llamafactory.chat import ChatModel
    from llamafactory.hparams import get_infer_args
    from llamafactory.model import load_model, load_tokenizer
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medtui.engines.ppo_models import load_reward_model

    saves = ws / "saves" / "workflow-demo"
    sft, merged, adapter, rm = (saves / "full" / "sft", saves / "export" / "ppo-merged", saves / "lora" / "ppo",
                                saves / "lora" / "rm")
    out: dict = {}
    messages = [{"role": "user", "content": "请提供一种常见的感冒药。"}]
    chat = ChatModel(dict(model_name_or_path=str(merged), template="default", infer_backend="huggingface",
                          max_new_tokens=12, do_sample=False))
    out["chat"] = chat.chat(messages)[0].response_text
    chat = ChatModel(dict(model_name_or_path=str(sft), adapter_name_or_path=str(adapter), finetuning_type="lora",
                          template="default", infer_backend="huggingface", max_new_tokens=12, do_sample=False))
    out["chat_adapter"] = chat.chat(messages)[0].response_text

    tok = AutoTokenizer.from_pretrained(merged)
    ids = tok(["Human: 请提供一种常见的感冒药。\nAssistant:"], return_tensors="pt")
    sft_model = AutoModelForCausalLM.from_pretrained(sft).eval()
    merged_model = AutoModelForCausalLM.from_pretrained(merged).eval()
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(sft), str(adapter)).eval()
    with torch.no_grad():
        gen = merged_model.generate(**ids, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
        out["generated"] = int(gen.shape[1] - ids["input_ids"].shape[1])
        a, b, c = (m(**ids).logits for m in (sft_model, merged_model, peft_model))
    out["policy_shift"] = float((a - b).abs().max())
    out["merge_error"] = float((b - c).abs().max())

    model_args, _, finetuning_args, _ = get_infer_args(dict(model_name_or_path=str(sft), adapter_name_or_path=str(rm),
                                                            template="default", finetuning_type="lora"))
    rm_tok = load_tokenizer(model_args)["tokenizer"]
    text = rm_tok(["Human: 你好\nAssistant: 感冒药如对乙酰氨基酚可以缓解症状。"], return_tensors="pt")
    valuehead = load_model(rm_tok, model_args, finetuning_args, is_trainable=False, add_valuehead=True)
    ppo_args = copy.copy(model_args)
    ppo_args.adapter_name_or_path = None
    rm_args = copy.copy(finetuning_args)
    rm_args.reward_model, rm_args.reward_model_type = str(rm), "lora"
    scorer = load_reward_model(rm_tok, ppo_args, rm_args)
    with torch.no_grad():
        out["rm_llamafactory"] = float(valuehead(**text, output_hidden_states=True, return_dict=True)[2][0, -1])
        out["rm_medtui"] = float(scorer(**text)[0, -1])
    return out


if __name__ == "__main__":
    print("PROBE " + json.dumps(main(Path(sys.argv[1])), ensure_ascii=False))
