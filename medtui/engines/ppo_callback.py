"""PPO progress in llamafactory's files, and the graceful stop.

TRL's ``PPOTrainer`` logs ``objective/scores``, ``objective/kl``, ``loss/policy_avg`` and
``loss/value_avg`` every PPO step. :class:`PPOLogCallback` extends llamafactory's
``LogCallback`` (timing, ``running_log.txt`` when ``LLAMABOARD_ENABLED``) and writes
``trainer_log.jsonl`` records in its format, plus ``kl`` and ``value_loss``. The same names are
added to ``trainer_state.json``'s log history, so llamafactory's ``plot_loss`` can draw them.

TRL's PPO loop never checks ``control.should_training_stop``, so SIGABRT (the runner's graceful
stop) sets a flag and the next step end raises :class:`StopTraining`; the caller saves.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from typing import Any

from llamafactory.extras.constants import TRAINER_LOG
from llamafactory.train.callbacks import LogCallback

LOGGER = "medtui.engines.ppo"


class StopTraining(Exception):
    """Raised at a step boundary after SIGABRT; the model is consistent and can be saved."""


def ppo_record(metrics: dict[str, Any], vf_coef: float) -> dict[str, float]:
    """llamafactory-style names for TRL's PPO metrics (missing ones are left out)."""
    out: dict[str, float] = {}
    policy, value = metrics.get("loss/policy_avg"), metrics.get("loss/value_avg")
    if policy is not None and value is not None:
        out["loss"] = policy + vf_coef * value  # what PPO minimises, like llamafactory's ppo/loss/total
    if value is not None:
        out["value_loss"] = value
    if metrics.get("objective/scores") is not None:
        out["reward"] = metrics["objective/scores"]  # mean reward-model score of the rollouts
    if metrics.get("objective/kl") is not None:
        out["kl"] = metrics["objective/kl"]
    lr = metrics.get("lr", metrics.get("learning_rate"))
    if lr is not None:
        out["learning_rate"] = lr
    return out


class PPOLogCallback(LogCallback):
    def __init__(self, vf_coef: float, logging_steps: int = 1) -> None:
        super().__init__()
        self.vf_coef = vf_coef
        self.logging_steps = max(1, int(logging_steps))
        self.aborted = False
        signal.signal(signal.SIGABRT, self._set_abort)  # also without LLAMABOARD_ENABLED

    def _stop_now(self) -> bool:
        """The stop flag, agreed by all processes so that every rank stops after the same step."""
        import torch
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self.aborted
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
        flag = torch.tensor([1 if self.aborted else 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def on_train_begin(self, args, state, control, **kwargs):
        super().on_train_begin(args, state, control, **kwargs)
        if self._stop_now():
            raise StopTraining()

    def on_step_end(self, args, state, control, **kwargs):
        super().on_step_end(args, state, control, **kwargs)
        if self._stop_now():
            raise StopTraining()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not args.should_save or not state.log_history:
            return
        names = ppo_record(state.log_history[-1], self.vf_coef)
        state.log_history[-1].update(names)
        step = state.global_step
        if step % self.logging_steps and step < state.max_steps:
            return
        self._timing(cur_steps=step)
        record = dict(
            current_steps=self.cur_steps,
            total_steps=self.max_steps,
            loss=names.get("loss"),
            reward=names.get("reward"),
            kl=names.get("kl"),
            value_loss=names.get("value_loss"),
            lr=names.get("learning_rate"),
            epoch=state.log_history[-1].get("epoch"),
            percentage=round(self.cur_steps / self.max_steps * 100, 2) if self.max_steps else 100,
            elapsed_time=self.elapsed_time,
            remaining_time=self.remaining_time,
        )
        record = {k: v for k, v in record.items() if v is not None}
        with open(os.path.join(args.output_dir, TRAINER_LOG), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        logging.getLogger(LOGGER).info(
            "{" + ", ".join(f"'{k}': {record[k]:.4f}" for k in ("loss", "reward", "kl", "value_loss") if k in record)
            + f", 'epoch': {record.get('epoch', 0):.2f}" + "}")
