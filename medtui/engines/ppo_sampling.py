"""top_k / top_p for PPO rollouts.

TRL 0.24's ``PPOTrainer.train`` builds its rollout ``GenerationConfig`` with ``top_k=0`` and
``top_p=1.0`` fixed, and takes the rollout log-probabilities from ``generate``'s *processed*
scores. :func:`rollout_sampling` (used only when the user sets top_k or top_p) puts the
user's values into that config and takes the log-probabilities from the raw logits divided by
the temperature, the same quantity the PPO update recomputes, so the probability ratio stays
unbiased while sampling is truncated.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def rollout_sampling(top_k: int | None, top_p: float | None) -> Iterator[None]:
    top_k = int(top_k or 0)
    top_p = 1.0 if top_p is None else float(top_p)
    if top_k <= 0 and top_p >= 1.0:
        yield
        return
    import torch
    import trl.trainer.ppo_trainer as ppo_module
    import trl.trainer.utils as utils_module

    original_config, original_generate = ppo_module.GenerationConfig, utils_module.generate

    def generation_config(**kwargs):
        if kwargs.get("do_sample"):
            kwargs.update(top_k=top_k, top_p=top_p)
        return original_config(**kwargs)

    def generate(lm_backbone, queries, pad_token_id, config):
        context_length = queries.shape[1]
        attention_mask = queries != pad_token_id
        input_ids = torch.masked_fill(queries, ~attention_mask, 0)
        config = copy.deepcopy(config)
        config.return_dict_in_generate, config.output_logits = True, True
        output = lm_backbone.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
        logits = torch.stack(output.logits, 1) / config.temperature
        return torch.cat((queries, output.sequences[:, context_length:]), dim=1), logits

    ppo_module.GenerationConfig, utils_module.generate = generation_config, generate
    try:
        yield
    finally:
        ppo_module.GenerationConfig, utils_module.generate = original_config, original_generate
