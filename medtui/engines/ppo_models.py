"""The PPO reward and value models, built from a llamafactory reward-model run.

``llamafactory-cli train --stage rm`` saves a LoRA adapter (or a full model) plus
``value_head.safetensors``: ``v_head.summary``, a ``Linear(hidden, 1)`` with a bias, read at the
last hidden state. TRL's ``PPOTrainer`` scores with ``getattr(model, model.base_model_prefix)``
(the transformer body) and ``model.score`` (a head on ``hidden_states[-1]``). :class:`Scorer`
is exactly that pair: the reward model's body, with its adapter merged, and the value head
loaded as ``score``, bias included.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class ValueHead(nn.Linear):
    """``v_head.summary`` of llamafactory's value-head model, kept in float32 like TRL's ValueHead."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return super().forward(hidden.to(self.weight.dtype))


class Scorer(nn.Module):
    """A transformer body plus a scalar head, in the shape TRL's ``get_reward`` expects."""

    base_model_prefix = "body"

    def __init__(self, body: nn.Module, score: ValueHead, config: Any):
        super().__init__()
        self.body = body
        self.score = score
        self.config = config

    def forward(self, **kwargs: Any) -> torch.Tensor:
        out = self.body(**kwargs, output_hidden_states=True, return_dict=True)
        return self.score(out.hidden_states[-1])


def value_head(params: dict[str, torch.Tensor]) -> ValueHead:
    weight = params["v_head.summary.weight"].float()
    head = ValueHead(weight.shape[1], weight.shape[0], bias=True)
    with torch.no_grad():
        head.weight.copy_(weight)
        head.bias.copy_(params["v_head.summary.bias"].float())
    return head


def load_reward_model(tokenizer, model_args, finetuning_args) -> Scorer:
    """Load the reward model the way llamafactory's own PPO did, but as a stand-alone scorer.

    ``lora``: the PPO base model (with its ``adapter_name_or_path`` merged), plus the RM adapter,
    merged. ``full``: the RM folder itself. Either way the value head comes from the RM folder.
    """
    from llamafactory.hparams import FinetuningArguments
    from llamafactory.model import load_model
    from llamafactory.model.model_utils.valuehead import load_valuehead_params

    path = finetuning_args.reward_model
    rm_args = copy.copy(model_args)
    if finetuning_args.reward_model_type == "lora":
        rm_args.adapter_name_or_path = list(model_args.adapter_name_or_path or []) + [path]
    elif finetuning_args.reward_model_type == "full":
        rm_args.model_name_or_path = path
        rm_args.adapter_name_or_path = None
    else:
        raise ValueError(f"reward_model_type {finetuning_args.reward_model_type!r} is not supported; "
                         f"use lora or full")
    params = load_valuehead_params(path, model_args)
    if params is None:
        raise ValueError(f"{path} has no value_head.safetensors: is it the output of an RM (stage rm) run?")
    causal = load_model(tokenizer, rm_args, FinetuningArguments(), is_trainable=False)
    causal.requires_grad_(False)
    scorer = Scorer(causal.base_model, value_head(params), causal.config)
    scorer.requires_grad_(False)
    return scorer.eval()


def make_value_model(reward: Scorer, policy, finetuning_type: str) -> Scorer:
    """The critic: a copy of the reward model (TRL's recipe).

    With LoRA fine-tuning the copy's body is frozen and gets LoRA layers on the same modules as
    the policy, so the critic costs adapters and a head, not a second full set of optimizer
    states. Otherwise the whole copy trains.
    """
    value = copy.deepcopy(reward)
    value.train()
    if finetuning_type != "lora":
        value.requires_grad_(True)
        return value
    from peft import LoraConfig, inject_adapter_in_model

    policy_cfg = policy.peft_config["default"]
    config = LoraConfig(r=policy_cfg.r, lora_alpha=policy_cfg.lora_alpha, lora_dropout=policy_cfg.lora_dropout,
                        target_modules=policy_cfg.target_modules, use_rslora=policy_cfg.use_rslora)
    value.requires_grad_(False)
    value.body = inject_adapter_in_model(config, value.body)
    for name, param in value.body.named_parameters():
        param.requires_grad_("lora_" in name)
        if "lora_" in name:
            param.data = param.data.float()
    value.score.requires_grad_(True)
    return value
