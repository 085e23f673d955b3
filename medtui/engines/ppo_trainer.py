"""TRL's ``PPOTrainer`` with its multi-process gaps closed.

Under torchrun, accelerate wraps TRL's policy-and-value module in ``DistributedDataParallel``,
and TRL 0.24 then reads ``self.model.policy`` / ``self.model.config`` through the wrapper when it
saves and writes the model card, which fails. These overrides unwrap first; in one process they
change nothing. (The LoRA reference path has the same gap; ``ppo_train`` passes an explicit
reference model when distributed.)
"""

from __future__ import annotations

from contextlib import contextmanager

from trl import PPOTrainer


class MedtuiPPOTrainer(PPOTrainer):
    @contextmanager
    def _unwrapped(self):
        wrapped = self.model
        self.model = self.accelerator.unwrap_model(wrapped)
        try:
            yield
        finally:
            self.model = wrapped

    def save_model(self, output_dir=None, _internal_call=False):
        with self._unwrapped():
            super().save_model(output_dir, _internal_call)

    def create_model_card(self, *args, **kwargs):
        with self._unwrapped():
            super().create_model_card(*args, **kwargs)
